package tgtestserver

import (
	"context"
	"errors"
	"fmt"
	"os"
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

// shared is one server for most tests of the package: auth keys made on it
// are pooled and reused (each new key costs a DH exchange, ~0.6 s).
var shared struct {
	once sync.Once
	srv  *Server
	err  error
	pool chan *session.StorageMemory
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.srv != nil {
		_ = shared.srv.Close()
	}
	os.Exit(code)
}

// sharedServer is the package's shared server. Tests on it must use
// phonesFor and uniqueName so they can run again with -count.
func sharedServer(t testing.TB) *Server {
	t.Helper()
	shared.once.Do(func() {
		k, err := loadOrCreateKey("")
		if err != nil {
			shared.err = err
			return
		}
		shared.srv, shared.err = New(Options{Logger: zerolog.New(os.Stderr).Level(zerolog.WarnLevel), Key: k})
		if shared.err == nil {
			shared.err = shared.srv.Start(context.Background())
		}
		shared.pool = make(chan *session.StorageMemory, 64)
	})
	if shared.err != nil {
		t.Fatalf("shared server: %v", shared.err)
	}
	return shared.srv
}

// pooledStorage hands out a session storage whose auth key already exists
// on the shared server (logged out), and takes it back, logged out, when
// the test ends. Other servers get a fresh storage.
func pooledStorage(t testing.TB, srv *Server) *session.StorageMemory {
	t.Helper()
	if srv != shared.srv {
		return &session.StorageMemory{}
	}
	var st *session.StorageMemory
	select {
	case st = <-shared.pool:
	default:
		st = &session.StorageMemory{}
	}
	// Registered before the client's cleanup, so it runs after the client
	// has stopped.
	t.Cleanup(func() {
		data, err := (&session.Loader{Storage: st}).Load(context.Background())
		if err != nil {
			return // never connected
		}
		var id [8]byte
		copy(id[:], data.AuthKeyID)
		srv.sessions.bind(id, 0)
		select {
		case shared.pool <- st:
		default:
		}
	})
	return st
}

var uniqueCounter atomic.Int64

// phonesFor maps the phone literals of one test run to phones no other run
// has used, the same literal always to the same phone.
func phonesFor(t testing.TB) func(string) string {
	book := map[string]string{}
	return func(lit string) string {
		n := normalizePhone(lit)
		if p, ok := book[n]; ok {
			return p
		}
		p := fmt.Sprintf("+39%09d", uniqueCounter.Add(1))
		book[n] = p
		return p
	}
}

// uniqueName makes a username no other test run has used.
func uniqueName(base string) string {
	return fmt.Sprintf("%s%d", base, uniqueCounter.Add(1))
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
	storage := pooledStorage(t, srv)
	c := startClient(t, srv, storage, telegram.UpdateHandlerFunc(rec.Handle))
	self := loginCode(ctx, t, srv, c, spec.Phone)
	return &loggedIn{actor: actor, self: self, client: c, rec: rec, storage: storage}
}

// inputPeerOf builds the InputPeer viewer's client would use for target.
func inputUserPeer(srv *Server, viewer, target int64) *tg.InputPeerUser {
	return &tg.InputPeerUser{UserID: target, AccessHash: srv.AccessHash(viewer, target)}
}
