package whatsapp

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestRetryHoldsCryptoLock: whatsmeow's answer to a retry receipt re-encrypts with the Signal
// session of the device that asked, so it waits for the device's crypto lock like decryption and
// the connector's sends, and lets it go once the answer is sent. Without the guard the answer
// goes out while the lock is held (the race that makes a contact's phone drop a message as "old
// counter"); if a whatsmeow upgrade changed the log line that ends the answer, the lock would stay
// held and the last step fails.
func TestRetryHoldsCryptoLock(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		first := f.aliceSendsToBob("ask again")

		c := f.login.Client.(*Client)
		lock := f.wa.Devices.CryptoLock(*c.Device.ID)
		lock.Lock()
		locked := true
		defer func() {
			if locked {
				lock.Unlock()
			}
		}()

		from := len(f.bob.Events.Events())
		f.bobAsksAgain(first)
		isAnswer := func(m *events.Message) bool { return m.Info.ID == first.Info.ID }

		held, cancel := context.WithTimeout(f.ctx, 2*time.Second)
		_, _, err := watestserver.WaitFor(held, f.bob.Events, from, isAnswer)
		cancel()
		if err == nil {
			t.Fatal("the bridge answered the retry receipt while the device's crypto lock was held")
		}

		lock.Unlock()
		locked = false
		again := f.bobReceives(from, "the answer to the retry receipt", isAnswer)
		if again.Message.GetConversation() != "ask again" {
			t.Errorf("re-sent message = %v", again.Message)
		}
		deadline := time.Now().Add(5 * time.Second)
		for !lock.TryLock() {
			if time.Now().After(deadline) {
				t.Fatal("the device's crypto lock is still held after the retry was answered")
			}
			time.Sleep(10 * time.Millisecond)
		}
		lock.Unlock()
	})
}

// TestRetryGuardRelease: which of whatsmeow's log lines end a hold, and the limit that ends a
// hold whatsmeow never reports.
func TestRetryGuardRelease(t *testing.T) {
	bob := types.NewJID("33622222222", types.DefaultUserServer)
	bobDevice := types.JID{User: bob.User, Device: 3, Server: bob.Server}
	carol := types.NewJID("33633333333", types.DefaultUserServer)
	receipt := &events.Receipt{MessageSource: types.MessageSource{Chat: bob, Sender: bobDevice}}
	sent := func(g *retryGuard) { g.Debugf(retrySentFormat, 1, bob, "M1", bobDevice) }
	failed := func(g *retryGuard) { g.Errorf(retryFailedFormat, bob, "M1", bobDevice, errors.New("no prekeys")) }
	tests := []struct {
		name     string
		lines    []func(g *retryGuard)
		wait     time.Duration // after the lines, with a limit of 100 ms
		released bool
	}{
		{"sent", []func(*retryGuard){sent}, 0, true},
		{"failed", []func(*retryGuard){failed}, 0, true},
		{"another message's line", []func(*retryGuard){func(g *retryGuard) { g.Debugf(retrySentFormat, 1, bob, "M2", bobDevice) }}, 0, false},
		{"another chat's failure", []func(*retryGuard){func(g *retryGuard) { g.Errorf(retryFailedFormat, carol, "M1", carol, errors.New("x")) }}, 0, false},
		{"other lines", []func(*retryGuard){func(g *retryGuard) { g.Debugf("Sending retry receipt for %s", "M1") }}, 0, false},
		{"no line, past the limit", nil, time.Second, true},
	}
	old := RetryLockLimit
	RetryLockLimit = 100 * time.Millisecond
	defer func() { RetryLockLimit = old }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var lock sync.Mutex
			g := &retryGuard{Logger: waLog.Noop, lock: &lock, log: zerolog.Nop()}
			if !g.before(receipt, "M1", 1, nil) {
				t.Fatal("the guard refused the retry")
			}
			for _, line := range tt.lines {
				line(g)
			}
			time.Sleep(tt.wait)
			free := lock.TryLock()
			if free {
				lock.Unlock()
			}
			if free != tt.released {
				t.Fatalf("lock free = %v, want %v", free, tt.released)
			}
			// A line for a hold already ended changes nothing (no unlock of an unlocked mutex).
			sent(g)
			failed(g)
		})
	}
}
