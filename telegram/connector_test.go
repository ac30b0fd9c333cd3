package telegram

import (
	"context"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
)

// TestLoadUserLoginWaitsForStart: the appservice takes transactions before the network
// connectors start, and a redelivered Matrix event may load a login then; the login waits for
// Start (here it never comes, so the wait ends with the context) instead of getting a client
// without its store.
func TestLoadUserLoginWaitsForStart(t *testing.T) {
	tc := NewConnector()
	tc.Init(&bridgev2.Bridge{})
	login := &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: "tg.1000001"}}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := tc.LoadUserLogin(ctx, login)
	if err == nil || !strings.Contains(err.Error(), "waiting for the Telegram connector to start") {
		t.Fatalf("LoadUserLogin before Start = %v, want a wait that ended with the context", err)
	}
	if login.Client != nil {
		t.Fatal("a client was built before the connector started")
	}
}
