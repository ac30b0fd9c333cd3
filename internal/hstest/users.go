package hstest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/id"
)

// Password is the password NewUser gives a user, so other clients (a browser, the JavaScript
// test client) can log in as the same user.
func Password(localpart string) string {
	return "passerelle-test-" + localpart
}

// UniqueLocalpart returns prefix plus a random suffix, for tests sharing one homeserver that must
// not collide on user names.
func UniqueLocalpart(prefix string) string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return prefix + "-" + hex.EncodeToString(b)
}

// RegisterUser creates the user with m.login.dummy (open registration) and returns a client
// logged in as that user, with its access token and device ID set.
func (hs *Homeserver) RegisterUser(ctx context.Context, localpart, password string) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(hs.URL, "", "")
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", hs.URL, err)
	}
	resp, err := cli.RegisterDummy(ctx, &mautrix.ReqRegister[any]{
		Username:                 localpart,
		Password:                 password,
		InitialDeviceDisplayName: "hstest",
	})
	if err != nil {
		return nil, fmt.Errorf("register @%s:%s: %w", localpart, hs.ServerName, err)
	}
	cli.SetCredentials(resp.UserID, resp.AccessToken)
	cli.DeviceID = resp.DeviceID
	return cli, nil
}

// NewUser registers @localpart:localhost with password Password(localpart) and returns a
// logged-in client; the test fails if that is impossible (e.g. the name is taken).
func (hs *Homeserver) NewUser(t testing.TB, localpart string) *mautrix.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cli, err := hs.RegisterUser(ctx, localpart, Password(localpart))
	if err != nil {
		t.Fatalf("hstest: %v", err)
	}
	return cli
}

// Client returns a client for an existing user and access token (e.g. one logged in elsewhere).
func (hs *Homeserver) Client(userID id.UserID, accessToken string) (*mautrix.Client, error) {
	cli, err := mautrix.NewClient(hs.URL, userID, accessToken)
	if err != nil {
		return nil, fmt.Errorf("client for %s on %s: %w", userID, hs.URL, err)
	}
	return cli, nil
}

// UserID returns the full Matrix ID of a local user of the test homeserver.
func UserID(localpart string) id.UserID {
	return id.NewUserID(localpart, ServerName)
}
