package tgtestserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/auth/qrlogin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

func TestTwoFactorLoginWithSRP(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	actor, err := srv.CreateUser(UserSpec{Phone: ph("+4915100000001"), FirstName: "Carol", Password: "correct horse", PasswordHint: "horse"})
	if err != nil {
		t.Fatal(err)
	}
	c := startClient(t, srv, pooledStorage(t, srv), nil)
	sent, err := c.client.Auth().SendCode(ctx, ph("+4915100000001"), auth.SendCodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := srv.LastCode(ph("4915100000001"))
	if _, err := c.client.Auth().SignIn(ctx, ph("+4915100000001"), code, sent.(*tg.AuthSentCode).PhoneCodeHash); !errors.Is(err, auth.ErrPasswordAuthNeeded) {
		t.Fatalf("sign in: err = %v, want ErrPasswordAuthNeeded", err)
	}
	// Not logged in yet: other methods are refused.
	if _, err := c.api.UpdatesGetState(ctx); !tgerr.Is(err, "AUTH_KEY_UNREGISTERED") {
		t.Fatalf("getState before password: err = %v", err)
	}
	pw, err := c.api.AccountGetPassword(ctx)
	if err != nil || !pw.HasPassword || pw.Hint != "horse" || len(pw.SecureRandom) != 256 {
		t.Fatalf("getPassword = %+v, %v", pw, err)
	}
	// gotd maps PASSWORD_HASH_INVALID to ErrPasswordInvalid.
	if _, err := c.client.Auth().Password(ctx, "wrong horse"); !errors.Is(err, auth.ErrPasswordInvalid) {
		t.Fatalf("wrong password: err = %v, want ErrPasswordInvalid", err)
	}
	res, err := c.client.Auth().Password(ctx, "correct horse")
	if err != nil {
		t.Fatalf("password: %v", err)
	}
	if res.User.GetID() != actor.ID() {
		t.Fatalf("logged in as %d, want %d", res.User.GetID(), actor.ID())
	}
	if _, err := c.api.UpdatesGetState(ctx); err != nil {
		t.Fatalf("getState after login: %v", err)
	}
}

func TestSignUpUnknownPhone(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	c := startClient(t, srv, pooledStorage(t, srv), nil)
	sent, err := c.client.Auth().SendCode(ctx, ph("+4400000099"), auth.SendCodeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	hash := sent.(*tg.AuthSentCode).PhoneCodeHash
	if _, err := c.client.Auth().SignIn(ctx, ph("+4400000099"), "00000", hash); !tgerr.Is(err, "PHONE_CODE_INVALID") {
		t.Fatalf("bad code: err = %v", err)
	}
	code, _ := srv.LastCode(ph("+4400000099"))
	var signUp *auth.SignUpRequired
	if _, err := c.client.Auth().SignIn(ctx, ph("+4400000099"), code, hash); !errors.As(err, &signUp) {
		t.Fatalf("sign in unknown phone: err = %v, want SignUpRequired", err)
	}
	res, err := c.client.Auth().SignUp(ctx, auth.SignUp{PhoneNumber: ph("+4400000099"), PhoneCodeHash: hash, FirstName: "Dan"})
	if err != nil {
		t.Fatalf("sign up: %v", err)
	}
	if u := res.User.(*tg.User); u.FirstName != "Dan" || !u.Self {
		t.Fatalf("signed up as %+v", u)
	}
	if _, ok := srv.ActorByPhone(ph("4400000099")); !ok {
		t.Fatal("account not registered")
	}
}

func TestQRLoginAcceptedFromOtherSession(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000011"), FirstName: "Alice"})

	d := tg.NewUpdateDispatcher()
	loggedIn := make(chan struct{}, 1)
	d.OnLoginToken(func(ctx context.Context, e tg.Entities, u *tg.UpdateLoginToken) error {
		select {
		case loggedIn <- struct{}{}:
		default:
		}
		return nil
	})
	fresh := startClient(t, srv, pooledStorage(t, srv), d)
	shown := 0
	res, err := fresh.client.QR().Auth(ctx, qrlogin.LoggedIn(loggedIn), func(ctx context.Context, token qrlogin.Token) error {
		shown++
		// Alice scans the code with her logged-in app.
		parsed, err := qrlogin.ParseTokenURL(token.URL())
		if err != nil {
			return err
		}
		_, err = qrlogin.AcceptQR(ctx, alice.client.api, parsed)
		return err
	})
	if err != nil {
		t.Fatalf("QR auth: %v", err)
	}
	if shown != 1 || res.User.GetID() != alice.actor.ID() {
		t.Fatalf("QR login: shown %d times, user %d", shown, res.User.GetID())
	}
	auths, err := alice.client.api.AccountGetAuthorizations(ctx)
	if err != nil || len(auths.Authorizations) != 2 {
		t.Fatalf("authorizations = %+v, %v; want 2", auths, err)
	}
}

// The scripted phone app accepts a QR code from its URL; with 2FA the new
// session must then give the password.
func TestQRLoginAcceptedByScriptedAppWith2FA(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	carol, err := srv.CreateUser(UserSpec{Phone: ph("1"), FirstName: "Carol", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	// qrlogin.OnLoginToken's channel is unbuffered and its send does not
	// wait: use a buffered one so the push cannot be missed.
	d := tg.NewUpdateDispatcher()
	buffered := make(chan struct{}, 1)
	d.OnLoginToken(func(context.Context, tg.Entities, *tg.UpdateLoginToken) error {
		select {
		case buffered <- struct{}{}:
		default:
		}
		return nil
	})
	c := startClient(t, srv, pooledStorage(t, srv), d)
	_, err = c.client.QR().Auth(ctx, qrlogin.LoggedIn(buffered), func(ctx context.Context, token qrlogin.Token) error {
		return carol.AcceptLoginURL(token.URL())
	})
	if !tgerr.Is(err, "SESSION_PASSWORD_NEEDED") {
		t.Fatalf("QR login with 2FA: err = %v, want SESSION_PASSWORD_NEEDED", err)
	}
	res, err := c.client.Auth().Password(ctx, "pw")
	if err != nil {
		t.Fatalf("password after QR: %v", err)
	}
	if res.User.GetID() != carol.ID() {
		t.Fatalf("logged in as %d", res.User.GetID())
	}
	if err := carol.AcceptLoginURL("https://example.invalid"); err == nil {
		t.Fatal("non-tg URL accepted")
	}
}

func TestBotLogin(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	bot, err := srv.CreateUser(UserSpec{FirstName: "Relay Bot", Username: uniqueName("relay_bot"), Bot: true})
	if err != nil {
		t.Fatal(err)
	}
	c := startClient(t, srv, pooledStorage(t, srv), nil)
	if _, err := c.client.Auth().Bot(ctx, "1:wrong"); !tgerr.Is(err, "ACCESS_TOKEN_INVALID") {
		t.Fatalf("bad token: err = %v", err)
	}
	res, err := c.client.Auth().Bot(ctx, bot.BotToken())
	if err != nil {
		t.Fatalf("bot login: %v", err)
	}
	if u := res.User.(*tg.User); !u.Bot || u.ID != bot.ID() {
		t.Fatalf("bot user = %+v", u)
	}
}

// A revoked session (terminated from another device) gets
// AUTH_KEY_UNREGISTERED; auth.logOut does the same for the caller.
func TestRevokeAndLogOut(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000021"), FirstName: "Alice"})
	if n := srv.RevokeSessions(alice.actor.ID()); n != 1 {
		t.Fatalf("revoked %d sessions, want 1", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := alice.client.api.UpdatesGetState(ctx)
		if tgerr.Is(err, "AUTH_KEY_UNREGISTERED") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after revoke: err = %v, want AUTH_KEY_UNREGISTERED", err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Log in again on the same key, then log out.
	loginCode(ctx, t, srv, alice.client, ph("+33600000021"))
	if _, err := alice.client.api.UpdatesGetState(ctx); err != nil {
		t.Fatalf("after re-login: %v", err)
	}
	if _, err := alice.client.api.AuthLogOut(ctx); err != nil {
		t.Fatalf("log out: %v", err)
	}
	if _, err := alice.client.api.UpdatesGetState(ctx); !tgerr.Is(err, "AUTH_KEY_UNREGISTERED") {
		t.Fatalf("after logout: err = %v", err)
	}
}

func TestInjectedFloodWait(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000031"), FirstName: "Alice"})
	if err := srv.InjectFloodWait("messages.sendMesage", 3, 1); err == nil {
		t.Fatal("misspelt method accepted")
	}
	if err := srv.InjectFloodWait("messages.sendMessage", 3, 2); err != nil {
		t.Fatal(err)
	}
	send := func() error {
		_, err := alice.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: &tg.InputPeerSelf{}, Message: "note", RandomID: time.Now().UnixNano()})
		return err
	}
	for i := 0; i < 2; i++ {
		d, ok := tgerr.AsFloodWait(send())
		if !ok || d != 3*time.Second {
			t.Fatalf("call %d: flood wait = %v, %v; want 3s", i, d, ok)
		}
	}
	if err := send(); err != nil {
		t.Fatalf("after the injected waits: %v", err)
	}
	if left := srv.FloodWaitsLeft("messages.sendMessage"); left != 0 {
		t.Fatalf("left = %d", left)
	}
}

func TestKeyFilePersistsPublicKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "dc.pem")
	a, err := New(Options{KeyFile: path})
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(Options{KeyFile: path})
	if err != nil {
		t.Fatal(err)
	}
	if a.PublicKeysPEM()[0] != b.PublicKeysPEM()[0] {
		t.Fatal("second server did not reuse the key file")
	}
	if err := os.WriteFile(path, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{KeyFile: path}); err == nil {
		t.Fatal("garbage key file accepted")
	}
}

// A client configured only from what a bridge config holds (DC, address,
// PEM keys) reaches the server, and keeps its login across a client
// restart on a fixed-address server.
func TestClientFromConfigOnly(t *testing.T) {
	key := sharedKey(t)
	srv, err := New(Options{Addr: "127.0.0.1:0", DC: 4, Key: key, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx := testCtx(t)
	ph := phonesFor(t)
	if _, err := srv.CreateUser(UserSpec{Phone: ph("+33600000041"), FirstName: "Eve"}); err != nil {
		t.Fatal(err)
	}
	keys, err := ParsePublicKeysPEM(srv.PublicKeysPEM())
	if err != nil {
		t.Fatal(err)
	}
	storage := &session.StorageMemory{}
	opts := telegram.Options{
		DC:             4,
		DCList:         srv.ClientOptions().DCList,
		PublicKeys:     keys,
		SessionStorage: storage,
		NoUpdates:      true,
	}
	run := func(f func(ctx context.Context, c *telegram.Client) error) {
		c := telegram.NewClient(testAPIID, testAPIHash, opts)
		if err := c.Run(ctx, func(ctx context.Context) error { return f(ctx, c) }); err != nil {
			t.Fatal(err)
		}
	}
	run(func(ctx context.Context, c *telegram.Client) error {
		sent, err := c.Auth().SendCode(ctx, ph("+33600000041"), auth.SendCodeOptions{})
		if err != nil {
			return err
		}
		code, _ := srv.LastCode(ph("+33600000041"))
		_, err = c.Auth().SignIn(ctx, ph("+33600000041"), code, sent.(*tg.AuthSentCode).PhoneCodeHash)
		return err
	})
	run(func(ctx context.Context, c *telegram.Client) error {
		st, err := c.Auth().Status(ctx)
		if err != nil {
			return err
		}
		if !st.Authorized || st.User.FirstName != "Eve" {
			t.Errorf("status after restart = %+v", st)
		}
		return nil
	})
}

// Auth keys live in the server's memory: after a server restart on the same
// address and key, a client with a saved session quietly makes a new key and
// is logged out, so the bridge must ask for a new login.
func TestServerRestartForcesNewLogin(t *testing.T) {
	key := sharedKey(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	first, err := New(Options{Key: key, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	addr := first.Addr()
	if _, err := first.CreateUser(UserSpec{Phone: ph("1"), FirstName: "Xavier"}); err != nil {
		t.Fatal(err)
	}
	storage := &session.StorageMemory{}
	c := startClient(t, first, storage, nil)
	loginCode(ctx, t, first, c, ph("1"))
	c.stop()
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}

	second, err := New(Options{Key: key, Addr: addr, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(ctx); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer second.Close()
	c2 := startClient(t, second, storage, nil)
	st, err := c2.client.Auth().Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Authorized {
		t.Fatal("client still authorized after the server forgot its auth key")
	}
}
