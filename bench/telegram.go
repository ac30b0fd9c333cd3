package bench

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/tg"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// The test server accepts any API ID; these only satisfy the bridge's config check.
const (
	telegramAPIID   = 12345
	telegramAPIHash = "0123456789abcdef0123456789abcdef"
)

// sourceGotd names the baseline gotd client as a receiver.
const sourceGotd = "gotd"

// gotdClient is the protocol library used directly (no bridge): it logs in to the test server,
// reports every text message pushed to it, and sends messages, as the Telegram baselines need.
type gotdClient struct {
	api    *tg.Client
	cancel context.CancelFunc
	done   chan error
	random atomic.Int64
}

// gotdWrap lets a caller put middlewares around the baseline client's requests, with the
// function their Run must wrap the client in (floodwait.Waiter's Run), to measure what such a
// middleware costs; nil for the plain baseline.
type gotdWrap struct {
	middlewares []telegram.Middleware
	run         func(ctx context.Context, f func(ctx context.Context) error) error
}

// startGotd logs a fresh gotd client in as phone on srv; texts pushed to it go to arr.
func startGotd(ctx context.Context, srv *tgtestserver.Server, phone string, arr *arrivals, wrap *gotdWrap) (*gotdClient, error) {
	opts := srv.ClientOptions()
	run := func(ctx context.Context, f func(ctx context.Context) error) error { return f(ctx) }
	if wrap != nil {
		opts.Middlewares = append(opts.Middlewares, wrap.middlewares...)
		if wrap.run != nil {
			run = wrap.run
		}
	}
	opts.SessionStorage = &session.StorageMemory{}
	opts.UpdateHandler = telegram.UpdateHandlerFunc(func(_ context.Context, u tg.UpdatesClass) error {
		now := time.Now()
		switch u := u.(type) {
		case *tg.UpdateShortMessage:
			arr.seen(sourceGotd, u.Message, now)
		case *tg.UpdateShortChatMessage:
			arr.seen(sourceGotd, u.Message, now)
		case *tg.UpdateShort:
			// gotd hands updateShortMessage over in this form.
			seenUpdates(arr, []tg.UpdateClass{u.Update}, now)
		case *tg.Updates:
			seenUpdates(arr, u.Updates, now)
		case *tg.UpdatesCombined:
			seenUpdates(arr, u.Updates, now)
		}
		return nil
	})
	client := telegram.NewClient(telegramAPIID, telegramAPIHash, opts)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g := &gotdClient{cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		g.done <- run(runCtx, func(ctx context.Context) error {
			return client.Run(ctx, func(ctx context.Context) error {
				sent, err := client.Auth().SendCode(ctx, phone, auth.SendCodeOptions{})
				if err != nil {
					return fmt.Errorf("send code: %w", err)
				}
				code, ok := srv.LastCode(phone)
				if !ok {
					return errors.New("the test server sent no login code")
				}
				if _, err := client.Auth().SignIn(ctx, phone, code, sent.(*tg.AuthSentCode).PhoneCodeHash); err != nil {
					return fmt.Errorf("sign in: %w", err)
				}
				g.api = client.API()
				close(ready)
				<-ctx.Done()
				return nil
			})
		})
	}()
	select {
	case <-ready:
		return g, nil
	case err := <-g.done:
		cancel()
		return nil, fmt.Errorf("gotd client %s: %w", phone, err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("gotd client %s did not log in within 60s", phone)
	}
}

func seenUpdates(arr *arrivals, updates []tg.UpdateClass, now time.Time) {
	for _, u := range updates {
		if nm, ok := u.(*tg.UpdateNewMessage); ok {
			if m, ok := nm.Message.(*tg.Message); ok {
				arr.seen(sourceGotd, m.Message, now)
			}
		}
	}
}

// sendText sends text to a user, waiting for the server's answer, as the bridge does.
func (g *gotdClient) sendText(ctx context.Context, to *tg.InputPeerUser, text string) error {
	_, err := g.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer: to, Message: text, RandomID: g.random.Add(1) + time.Now().UnixNano(),
	})
	return err
}

func (g *gotdClient) close() {
	g.cancel()
	<-g.done
}
