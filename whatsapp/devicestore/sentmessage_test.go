package devicestore

import (
	"context"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestSentMessages(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "100")
		other := pairedDevice(t, c, "200")
		me := *dev.ID
		chatPN := mustJID(t, "336@s.whatsapp.net")
		chatLID := mustJID(t, "7070@lid")
		group := mustJID(t, "1203@g.us")
		check(t, c.LIDs().PutLIDMapping(ctx, chatLID, chatPN))
		now := time.Now()
		text := func(s string) *waE2E.Message { return &waE2E.Message{Conversation: proto.String(s)} }

		if got, err := c.GetSentMessage(ctx, me, chatPN, "NONE"); err != nil || got != nil {
			t.Fatalf("unknown message = %v, %v", got, err)
		}
		check(t, c.PutSentMessage(ctx, me, chatPN, "M1", text("hello"), now))
		check(t, c.PutSentMessage(ctx, me, group, "M2", text("group"), now))
		check(t, c.PutSentMessage(ctx, me, group, "M2", text("group edited"), now)) // overwrite
		check(t, c.PutSentMessage(ctx, me, chatLID, "M3", text("to lid"), now))
		check(t, c.PutSentMessage(ctx, *other.ID, chatPN, "M9", text("other device"), now))
		if err := c.PutSentMessage(ctx, me, chatPN, "M4", nil, now); err == nil {
			t.Error("nil message accepted")
		}
		if err := c.PutSentMessage(ctx, me, chatPN, "", text("x"), now); err == nil {
			t.Error("empty message ID accepted")
		}

		tests := []struct {
			name  string
			chat  string
			id    string
			want  string
			found bool
		}{
			{"exact", "336@s.whatsapp.net", "M1", "hello", true},
			{"chat with device part", "336:4@s.whatsapp.net", "M1", "hello", true},
			{"asked as LID, stored as PN", "7070@lid", "M1", "hello", true},
			{"asked as PN, stored as LID", "336@s.whatsapp.net", "M3", "to lid", true},
			{"overwritten", "1203@g.us", "M2", "group edited", true},
			{"other chat", "999@s.whatsapp.net", "M1", "", false},
			{"other device's message", "336@s.whatsapp.net", "M9", "", false},
		}
		for _, tt := range tests {
			got, err := c.GetSentMessage(ctx, me, mustJID(t, tt.chat), tt.id)
			check(t, err)
			if (got != nil) != tt.found || got.GetConversation() != tt.want {
				t.Errorf("%s: GetSentMessage = %v, want %q (found=%v)", tt.name, got, tt.want, tt.found)
			}
		}

		// The whatsmeow hook answers from the table.
		hook := c.RetryMessageGetter(me)
		if got := hook(mustJID(t, "336:2@s.whatsapp.net"), chatPN, "M1"); got.GetConversation() != "hello" {
			t.Errorf("retry hook = %v", got)
		}
		if got := hook(chatPN, chatPN, "NONE"); got != nil {
			t.Errorf("retry hook for unknown message = %v", got)
		}

		// Pruning: rows older than the cutoff go.
		check(t, c.PutSentMessage(ctx, me, chatPN, "OLD", text("old"), now.Add(-8*24*time.Hour)))
		n, err := c.PruneSentMessages(ctx, now.Add(-DefaultSentMessageMaxAge))
		check(t, err)
		if n != 1 {
			t.Errorf("PruneSentMessages removed %d rows, want 1", n)
		}
		if got, _ := c.GetSentMessage(ctx, me, chatPN, "OLD"); got != nil {
			t.Error("pruned message still returned")
		}
		if got, _ := c.GetSentMessage(ctx, me, chatPN, "M1"); got == nil {
			t.Error("recent message pruned")
		}
	})
}

func TestSentMessagesPruneAutomatically(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		c.SentMessageMaxAge = time.Hour
		me := *pairedDevice(t, c, "100").ID
		chat := mustJID(t, "336@s.whatsapp.net")
		msg := &waE2E.Message{Conversation: proto.String("x")}
		c.lastSentPrune.Store(time.Now().UnixMilli()) // pruned just now: the next puts skip it
		check(t, c.PutSentMessage(ctx, me, chat, "STALE", msg, time.Now().Add(-2*time.Hour)))
		check(t, c.PutSentMessage(ctx, me, chat, "OTHER", msg, time.Now()))
		if got, _ := c.GetSentMessage(ctx, me, chat, "STALE"); got == nil {
			t.Fatal("prune ran again within the prune interval")
		}
		c.lastSentPrune.Store(time.Now().Add(-2 * sentPruneInterval).UnixMilli())
		check(t, c.PutSentMessage(ctx, me, chat, "FRESH", msg, time.Now()))
		if got, _ := c.GetSentMessage(ctx, me, chat, "STALE"); got != nil {
			t.Error("row older than SentMessageMaxAge survived an automatic prune")
		}
		if got, _ := c.GetSentMessage(ctx, me, chat, "FRESH"); got == nil {
			t.Error("fresh row pruned")
		}
	})
}
