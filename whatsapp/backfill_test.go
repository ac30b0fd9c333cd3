package whatsapp

import (
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
)

// TestHistorySyncBackfill: a history sync from the phone creates the chat's room and backfills
// its newest messages, no more than bridge.backfill.max_initial_messages (2 in these tests).
func TestHistorySyncBackfill(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		base := time.Now().Add(-time.Hour)
		var msgs []*waHistorySync.HistorySyncMsg
		for i, text := range []string{"old 1", "old 2", "old 3"} {
			msgs = append(msgs, &waHistorySync.HistorySyncMsg{Message: &waWeb.WebMessageInfo{
				Key:              &waCommon.MessageKey{RemoteJID: proto.String(f.bobJID.String()), FromMe: proto.Bool(false), ID: proto.String("HIST" + text[4:])},
				MessageTimestamp: proto.Uint64(uint64(base.Add(time.Duration(i) * time.Minute).Unix())),
				Message:          &waE2E.Message{Conversation: proto.String(text)},
			}})
		}
		// Newest first, as phones send them.
		msgs[0], msgs[2] = msgs[2], msgs[0]
		sync := &events.HistorySync{Data: &waHistorySync.HistorySync{
			SyncType:      waHistorySync.HistorySync_INITIAL_BOOTSTRAP.Enum(),
			Conversations: []*waHistorySync.Conversation{{ID: proto.String(f.bobJID.String()), Messages: msgs}},
		}}
		if !c.handleEvent(sync) {
			t.Fatal("history sync not handed to bridgev2")
		}
		_, next := f.mx.waitEvent(t, 0, "backfilled old 2", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "old 2"
		})
		f.mx.waitEvent(t, next, "backfilled old 3 after old 2", func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "old 3"
		})
		if n := f.mx.count(func(e sentEvent) bool { return e.Type == event.EventMessage && e.Message().Body == "old 1" }); n != 0 {
			t.Error("backfill went beyond max_initial_messages")
		}
		f.portalRoom(f.login, f.bobJID)
	})
}
