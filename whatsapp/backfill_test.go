package whatsapp

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/proto/waHistorySync"
	"go.mau.fi/whatsmeow/proto/waWeb"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
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

// TestScrollBackAsksThePhone: Alice's primary phone keeps ten messages with Bob and sends the
// three newest as the initial history sync (two are bridged: max_initial_messages). Scrolling
// back (backward FetchMessages, anchored at the oldest bridged message each time) asks the phone
// for older history through WhatsApp and brings the rest, oldest first, without duplicates, until
// the phone has nothing older.
func TestScrollBackAsksThePhone(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		phone, err := f.srv.NewPhone(f.ctx, f.alice.User, watestserver.PhoneOptions{PushName: "Alice", Primary: true})
		if err != nil {
			t.Fatal(err)
		}
		defer phone.Close()
		base := time.Now().Add(-24 * time.Hour).Truncate(time.Second)
		var kept []*waWeb.WebMessageInfo
		for i := range 10 {
			kept = append(kept, &waWeb.WebMessageInfo{
				Key:              &waCommon.MessageKey{RemoteJID: proto.String(f.bobJID.String()), FromMe: proto.Bool(i%3 == 0), ID: proto.String(fmt.Sprintf("HIST%02d", i))},
				MessageTimestamp: proto.Uint64(uint64(base.Add(time.Duration(i) * time.Minute).Unix())),
				Message:          &waE2E.Message{Conversation: proto.String(fmt.Sprintf("h%02d", i))},
			})
		}
		phone.KeepHistory(f.bobJID, kept...)
		var initial []*waHistorySync.HistorySyncMsg
		for i := 9; i >= 7; i-- {
			initial = append(initial, &waHistorySync.HistorySyncMsg{Message: kept[i]})
		}
		if err = phone.SendHistorySync(f.ctx, *c.WA.Store.ID, &waHistorySync.HistorySync{
			SyncType:      waHistorySync.HistorySync_INITIAL_BOOTSTRAP.Enum(),
			Conversations: []*waHistorySync.Conversation{{ID: proto.String(f.bobJID.String()), Messages: initial}},
		}); err != nil {
			t.Fatal(err)
		}
		f.mx.waitEvent(t, 0, "backfilled h09", func(e sentEvent) bool { return e.Type == event.EventMessage && e.Message().Body == "h09" })
		p, err := f.br.GetExistingPortalByKey(f.ctx, c.portalKey(f.bobJID))
		if err != nil || p == nil {
			t.Fatalf("portal: %v", err)
		}
		anchor, err := f.br.DB.Message.GetFirstPortalMessage(f.ctx, p.PortalKey)
		if err != nil || anchor == nil {
			t.Fatalf("oldest bridged message: %v", err)
		}
		if ref, _ := portal.ParseWAMessageID(anchor.ID); ref.ID != "HIST08" {
			t.Fatalf("oldest bridged message = %s, want HIST08 (h07 beyond max_initial_messages)", ref.ID)
		}

		var got []string
		seen := map[networkid.MessageID]bool{}
		for call := 1; ; call++ {
			if call > 6 {
				t.Fatalf("scrolling back never ended; got %v", got)
			}
			resp, err := c.FetchMessages(f.ctx, bridgev2.FetchMessagesParams{Portal: p, AnchorMessage: anchor, Count: 3})
			if err != nil {
				t.Fatalf("scroll back %d: %v", call, err)
			}
			if resp.Forward {
				t.Fatal("a backward fetch answered as forward")
			}
			for i, m := range resp.Messages {
				if seen[m.ID] {
					t.Errorf("scroll back %d: %s again", call, m.ID)
				}
				seen[m.ID] = true
				if i > 0 && !m.Timestamp.After(resp.Messages[i-1].Timestamp) {
					t.Errorf("scroll back %d: not oldest first at %s", call, m.ID)
				}
				if !m.Timestamp.Before(anchor.Timestamp) {
					t.Errorf("scroll back %d: %s is not older than the anchor", call, m.ID)
				}
				body := m.Parts[0].Content.Body
				if wantMe := body == "h00" || body == "h03" || body == "h06"; m.Sender.IsFromMe != wantMe {
					t.Errorf("%s from me = %v, want %v", body, m.Sender.IsFromMe, wantMe)
				}
			}
			var batch []string
			for _, m := range resp.Messages {
				batch = append(batch, m.Parts[0].Content.Body)
			}
			got = append(batch, got...)
			if !resp.HasMore {
				if len(resp.Messages) != 0 {
					t.Errorf("last scroll back brought %v but says there is no more", batch)
				}
				break
			}
			first := resp.Messages[0]
			anchor = &database.Message{ID: first.ID, Timestamp: first.Timestamp, SenderID: first.Sender.Sender}
		}
		want := []string{"h00", "h01", "h02", "h03", "h04", "h05", "h06", "h07"}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("scrolled back to %v, want %v", got, want)
		}
	})
}
