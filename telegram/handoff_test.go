package telegram

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/bridgeconfig"
	"maunium.net/go/mautrix/bridgev2/database"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
)

// TestTransientRefusalIsRetriedInPlace: an update bridgev2 refuses because the database or the
// homeserver is briefly away is offered again in place, and the connection does not restart
// (no held state, no restart request); a refusal for any other reason, or one that outlasts
// HandOffWait, holds the state and restarts the connection so getDifference brings it again.
func TestTransientRefusalIsRetriedInPlace(t *testing.T) {
	defer func(d time.Duration) { HandOffWait = d }(HandOffWait)
	HandOffWait = 3 * time.Second
	transient := fmt.Errorf("save message: %w", bridgev2.ErrDatabaseError)
	cases := []struct {
		name        string
		failures    int // refusals before bridgev2 takes the event; -1 for never
		err         error
		wantCalls   int
		wantRestart bool
	}{
		{"database back after two refusals", 2, transient, 3, false},
		{"refused for another reason", 1, errors.New("cannot convert"), 1, true},
		{"database away past the wait", -1, transient, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := handOffClient(t)
			calls := 0
			c.handOff = func(bridgev2.RemoteEvent) bridgev2.EventHandlingResult {
				calls++
				if tc.failures < 0 || calls <= tc.failures {
					return bridgev2.EventHandlingResultFailed.WithError(tc.err)
				}
				return bridgev2.EventHandlingResultSuccess
			}
			update := &tg.Updates{
				Updates: []tg.UpdateClass{&tg.UpdateNewMessage{Message: &tg.Message{
					ID: 9, PeerID: &tg.PeerUser{UserID: 2000}, FromID: &tg.PeerUser{UserID: 2000},
					Message: "pendant une panne", Date: int(time.Now().Unix()),
				}}},
				Users: []tg.UserClass{&tg.User{ID: 2000, FirstName: "Bob"}},
			}
			err := c.handleUpdates(context.Background(), update)
			restarted := len(c.restart) > 0
			if (err != nil) != tc.wantRestart || restarted != tc.wantRestart || c.gate.Held() != tc.wantRestart {
				t.Fatalf("error %v, restart requested %v, state held %v; want a restart: %v", err, restarted, c.gate.Held(), tc.wantRestart)
			}
			if tc.wantCalls > 0 && calls != tc.wantCalls {
				t.Fatalf("bridgev2 was offered the event %d times, want %d", calls, tc.wantCalls)
			}
			if tc.failures < 0 && calls < 2 {
				t.Fatalf("a transient refusal was not retried before giving up (%d offer)", calls)
			}
		})
	}
}

// handOffClient is a client on a real bridge and update store, without a connection.
func handOffClient(t *testing.T) *Client {
	t.Helper()
	ctx := context.Background()
	log := testLogger(t)
	db := dbtest.Open(t, "sqlite3-fk-wal")
	store := tgstore.New(db, log, tgstore.WithKeyring(nil))
	if err := store.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	br := &bridgev2.Bridge{
		ID:            "tg-handoff-test",
		DB:            database.New("tg-handoff-test", database.MetaTypes{}, db),
		Config:        &bridgeconfig.BridgeConfig{},
		Log:           log,
		BackgroundCtx: ctx,
	}
	login := &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: "1000"}, Bridge: br, Log: log}
	return newClient(&Connector{Store: store}, login, 1000, nil)
}
