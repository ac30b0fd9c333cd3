package telegram

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/telegram/updates/hook"
	"github.com/gotd/td/tg"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// TestFailedHandOffIsFetchedAgain runs gotd's real updates manager on the bridge database with
// the same wiring as Client.runOnce (tgstore.Gate, the update feed, the update hook) against the
// test server. The handler refuses one message, as when bridgev2 cannot take an event: the
// manager still moves on (and would store pts), but the gate drops every position written after
// the failure, the connection restarts and getDifference delivers the refused message again,
// along with nothing lost after it.
func TestFailedHandOffIsFetchedAgain(t *testing.T) {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33611111111", FirstName: "Me"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33622222222", FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	db := dbtest.Open(t, "sqlite3-fk-wal")
	store := tgstore.New(db, testLogger(t))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := store.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	gate := store.Gate()

	var mu sync.Mutex
	var delivered []string
	refused := false
	restart := make(chan struct{}, 1)
	changed := make(chan struct{}, 1)
	handler := func(ctx context.Context, u tg.UpdatesClass) error {
		list, _ := u.(*tg.Updates)
		if list == nil {
			return nil
		}
		for _, upd := range list.Updates {
			nm, ok := upd.(*tg.UpdateNewMessage)
			if !ok {
				continue
			}
			msg, ok := nm.Message.(*tg.Message)
			if !ok {
				continue
			}
			mu.Lock()
			if msg.Message == "refuse me once" && !refused {
				refused = true
				mu.Unlock()
				gate.Hold()
				select {
				case restart <- struct{}{}:
				default:
				}
				return errors.New("the bridge could not take this event")
			}
			delivered = append(delivered, msg.Message)
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		return nil
	}

	connected := make(chan struct{}, 4)
	runOnce := func(ctx context.Context) error {
		gate.Release()
		feed := newUpdateFeed()
		manager := updates.New(updates.Config{
			Handler: telegram.UpdateHandlerFunc(handler), Storage: gate, AccessHasher: gate, UserAccessHasher: gate,
			Logger: newGotdLogger(testLogger(t)),
		})
		opts := srv.ClientOptions()
		opts.SessionStorage = store.Session(me.ID())
		opts.UpdateHandler = telegram.UpdateHandlerFunc(func(ctx context.Context, u tg.UpdatesClass) error { feed.push(u); return nil })
		opts.Middlewares = []telegram.Middleware{hook.UpdateHook(func(ctx context.Context, u tg.UpdatesClass) error { feed.push(u); return nil })}
		client := telegram.NewClient(12345, "0123456789abcdef0123456789abcdef", opts)
		return client.Run(ctx, func(ctx context.Context) error {
			st, err := client.Auth().Status(ctx)
			if err != nil {
				return err
			}
			if !st.Authorized {
				sent, err := client.Auth().SendCode(ctx, "33611111111", auth.SendCodeOptions{})
				if err != nil {
					return err
				}
				code, _ := srv.LastCode("33611111111")
				if _, err := client.Auth().SignIn(ctx, "33611111111", code, sent.(*tg.AuthSentCode).PhoneCodeHash); err != nil {
					return err
				}
			}
			ctx, stop := context.WithCancel(ctx)
			defer stop()
			done := make(chan error, 1)
			go func() {
				api := orderedDifferences{API: client.API(), handle: handler}
				done <- manager.Run(ctx, api, me.ID(), updates.AuthOptions{OnStart: func(ctx context.Context) {
					go feed.run(ctx, manager.Handle)
					connected <- struct{}{}
				}})
			}()
			select {
			case err := <-done:
				return err
			case <-restart:
				return errRestart
			}
		})
	}
	runs := 0
	loopDone := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			runs++
			if err := runOnce(ctx); err != nil && !errors.Is(err, errRestart) && ctx.Err() == nil {
				loopDone <- err
				return
			}
		}
		loopDone <- nil
	}()
	select {
	case <-connected:
	case err := <-loopDone:
		t.Fatalf("client stopped: %v", err)
	case <-ctx.Done():
		t.Fatal("client never connected")
	}
	dm := tgtestserver.UserPeer(me.ID())
	for _, text := range []string{"first", "refuse me once", "after the refusal"} {
		if _, err := bob.SendText(dm, text); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"first", "refuse me once", "after the refusal"}
	for {
		mu.Lock()
		got := slices.Clone(delivered)
		mu.Unlock()
		ok := true
		for _, w := range want {
			ok = ok && slices.Contains(got, w)
		}
		if ok {
			break
		}
		select {
		case <-changed:
		case <-time.After(200 * time.Millisecond):
		case <-ctx.Done():
			t.Fatalf("delivered %q, want all of %q (runs: %d)", got, want, runs)
		}
	}
	if !refused {
		t.Fatal("the refusal never happened")
	}
	// Once everything is handed over, the stored position catches up with the server.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, found, err := store.State().GetState(ctx, me.ID())
		if err == nil && found && st.Pts == srv.Pts(me.ID()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stored state %+v (found=%v, err=%v), server pts %d", st, found, err, srv.Pts(me.ID()))
		}
		time.Sleep(100 * time.Millisecond)
	}
	cancel()
	<-loopDone
	if runs < 2 {
		t.Errorf("the connection ran %d times; the refusal must restart it", runs)
	}
}
