package tgtestserver

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"crypto/rsa"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
)

const (
	testAPIID   = 12345
	testAPIHash = "0123456789abcdef0123456789abcdef"
)

func testLogger(t testing.TB) zerolog.Logger {
	return zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger()
}

// startServer runs a server on a random loopback port for one test.
func startServer(t testing.TB) *Server {
	t.Helper()
	srv, err := New(Options{Logger: testLogger(t), Key: sharedKey(t)})
	if err != nil {
		t.Fatalf("new server: %v", err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatalf("start server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return srv
}

var (
	keyOnce sync.Once
	keyPEM  []byte
)

// sharedKey generates one RSA key for the whole test binary (generation
// costs ~100 ms); Options.KeyFile is covered by its own test.
func sharedKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	keyOnce.Do(func() {
		k, err := loadOrCreateKey("")
		if err != nil {
			t.Fatalf("key: %v", err)
		}
		keyPEM = encodeKey(k)
	})
	k, err := parsePrivateKey("shared", keyPEM)
	if err != nil {
		t.Fatalf("parse key: %v", err)
	}
	return k
}

// recorder keeps every update a client's UpdateHandler saw.
type recorder struct {
	short   atomic.Int32 // short message pushes seen
	mu      sync.Mutex
	updates []tg.UpdateClass
	notify  chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1)} }

func (r *recorder) add(us ...tg.UpdateClass) {
	r.mu.Lock()
	r.updates = append(r.updates, us...)
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// Handle implements telegram.UpdateHandler for raw (unmanaged) pushes.
func (r *recorder) Handle(_ context.Context, u tg.UpdatesClass) error {
	switch u := u.(type) {
	case *tg.Updates:
		r.add(u.Updates...)
	case *tg.UpdatesCombined:
		r.add(u.Updates...)
	case *tg.UpdateShort:
		// gotd's client turns updateShortMessage / updateShortChatMessage
		// into updateShort{updateNewMessage} before handlers see them.
		if _, ok := u.Update.(*tg.UpdateNewMessage); ok {
			r.short.Add(1)
		}
		r.add(u.Update)
	case *tg.UpdateShortMessage:
		r.short.Add(1)
		r.add(&tg.UpdateNewMessage{Message: &tg.Message{
			ID: u.ID, Message: u.Message, Out: u.Out, PeerID: &tg.PeerUser{UserID: u.UserID},
			Date: u.Date, Entities: u.Entities, ReplyTo: u.ReplyTo,
		}, Pts: u.Pts, PtsCount: u.PtsCount})
	case *tg.UpdateShortChatMessage:
		r.short.Add(1)
		r.add(&tg.UpdateNewMessage{Message: &tg.Message{
			ID: u.ID, Message: u.Message, Out: u.Out, PeerID: &tg.PeerChat{ChatID: u.ChatID},
			FromID: &tg.PeerUser{UserID: u.FromID}, Date: u.Date, Entities: u.Entities, ReplyTo: u.ReplyTo,
		}, Pts: u.Pts, PtsCount: u.PtsCount})
	}
	return nil
}

// wait returns the first recorded update matching match, or fails.
func (r *recorder) wait(t testing.TB, what string, match func(tg.UpdateClass) bool) tg.UpdateClass {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		r.mu.Lock()
		for _, u := range r.updates {
			if match(u) {
				r.mu.Unlock()
				return u
			}
		}
		r.mu.Unlock()
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
			return nil
		}
	}
}

// testClient is a running gotd client.
type testClient struct {
	client *telegram.Client
	api    *tg.Client
	stop   func()
}

// startClient runs a gotd client against srv until stop (or test end).
// Reusing storage reuses the auth key (a new one costs ~0.6 s).
func startClient(t testing.TB, srv *Server, storage *session.StorageMemory, handler telegram.UpdateHandler, mw ...telegram.Middleware) *testClient {
	t.Helper()
	opts := srv.ClientOptions()
	opts.SessionStorage = storage
	opts.UpdateHandler = handler
	opts.Middlewares = mw
	opts.NoUpdates = handler == nil
	client := telegram.NewClient(testAPIID, testAPIHash, opts)
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- client.Run(ctx, func(ctx context.Context) error {
			close(ready)
			<-ctx.Done()
			return ctx.Err()
		})
	}()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("client run: %v", err)
	case <-time.After(60 * time.Second):
		cancel()
		t.Fatalf("client did not connect")
	}
	var once sync.Once
	tc := &testClient{client: client, api: client.API()}
	tc.stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Logf("client stopped: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("client did not stop")
			}
		})
	}
	t.Cleanup(tc.stop)
	return tc
}

// loginCode logs a client in with a phone code read from the server.
func loginCode(ctx context.Context, t testing.TB, srv *Server, c *testClient, phone string) *tg.User {
	t.Helper()
	sent, err := c.client.Auth().SendCode(ctx, phone, auth.SendCodeOptions{})
	if err != nil {
		t.Fatalf("send code: %v", err)
	}
	code, ok := srv.LastCode(phone)
	if !ok {
		t.Fatalf("no code recorded for %s", phone)
	}
	res, err := c.client.Auth().SignIn(ctx, phone, code, sent.(*tg.AuthSentCode).PhoneCodeHash)
	if err != nil {
		t.Fatalf("sign in %s: %v", phone, err)
	}
	return res.User.(*tg.User)
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// loggedIn is a user with a logged-in running client.
type loggedIn struct {
	actor   *Actor
	self    *tg.User
	client  *testClient
	rec     *recorder
	storage *session.StorageMemory
}

func newLoggedIn(ctx context.Context, t testing.TB, srv *Server, spec UserSpec) *loggedIn {
	t.Helper()
	actor, err := srv.CreateUser(spec)
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	rec := newRecorder()
	storage := &session.StorageMemory{}
	c := startClient(t, srv, storage, telegram.UpdateHandlerFunc(rec.Handle))
	self := loginCode(ctx, t, srv, c, spec.Phone)
	return &loggedIn{actor: actor, self: self, client: c, rec: rec, storage: storage}
}

// inputPeerOf builds the InputPeer viewer's client would use for target.
func inputUserPeer(srv *Server, viewer, target int64) *tg.InputPeerUser {
	return &tg.InputPeerUser{UserID: target, AccessHash: srv.AccessHash(viewer, target)}
}
