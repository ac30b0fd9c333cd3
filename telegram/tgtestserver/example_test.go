package tgtestserver_test

import (
	"context"
	"fmt"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// A gotd client logs in with a code read from the server, and a scripted
// contact writes to it.
func Example() {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: zerolog.Nop()})
	if err != nil {
		panic(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		panic(err)
	}
	defer srv.Close()

	me, _ := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000001", FirstName: "Alice"})
	contact, _ := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000002", FirstName: "Bob"})

	got := make(chan string, 1)
	d := tg.NewUpdateDispatcher()
	d.OnNewMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateNewMessage) error {
		got <- u.Message.(*tg.Message).Message
		return nil
	})
	opts := srv.ClientOptions() // DC, DCList, PublicKeys, Resolver
	opts.UpdateHandler = d
	client := telegram.NewClient(12345, "0123456789abcdef", opts)
	err = client.Run(context.Background(), func(ctx context.Context) error {
		sent, err := client.Auth().SendCode(ctx, "+33600000001", auth.SendCodeOptions{})
		if err != nil {
			return err
		}
		code, _ := srv.LastCode("+33600000001")
		if _, err := client.Auth().SignIn(ctx, "+33600000001", code, sent.(*tg.AuthSentCode).PhoneCodeHash); err != nil {
			return err
		}
		if _, err := contact.SendText(tgtestserver.UserPeer(me.ID()), "hello from Bob"); err != nil {
			return err
		}
		fmt.Println(<-got)
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output: hello from Bob
}
