package outbox

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// rawEvent builds an event the way the appservice hands it over: parsed from JSON.
func rawEvent(t *testing.T, js string) *event.Event {
	t.Helper()
	var evt event.Event
	if err := json.Unmarshal([]byte(js), &evt); err != nil {
		t.Fatal(err)
	}
	evt.Type.Class = event.MessageEventType
	if err := evt.Content.ParseRaw(evt.Type); err != nil {
		t.Fatal(err)
	}
	return &evt
}

func TestStoreOrderAndRoundTrip(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := NewStore(db)
		for range 2 { // every start runs it
			if err := s.Upgrade(ctx); err != nil {
				t.Fatal(err)
			}
		}
		key := networkid.PortalKey{ID: "tg.u5000", Receiver: "tg.1000"}
		events := []*event.Event{
			rawEvent(t, `{"type":"m.room.message","event_id":"$one","room_id":"!r:hs","sender":"@a:hs","origin_server_ts":1700000000000,
				"content":{"msgtype":"m.text","body":"> <@b:hs> quoted\n\none","m.relates_to":{"m.in_reply_to":{"event_id":"$zero"}}},"unsigned":{"transaction_id":"txn1"}}`),
			rawEvent(t, `{"type":"m.room.message","event_id":"$edit","room_id":"!r:hs","sender":"@a:hs","origin_server_ts":1700000001000,
				"content":{"msgtype":"m.text","body":"* two","m.new_content":{"msgtype":"m.text","body":"two"},"m.relates_to":{"rel_type":"m.replace","event_id":"$one"}}}`),
			rawEvent(t, `{"type":"m.reaction","event_id":"$react","room_id":"!r:hs","sender":"@a:hs","origin_server_ts":1700000002000,
				"content":{"m.relates_to":{"rel_type":"m.annotation","event_id":"$one","key":"👍"}}}`),
			rawEvent(t, `{"type":"m.room.redaction","event_id":"$redact","room_id":"!r:hs","sender":"@a:hs","redacts":"$one","origin_server_ts":1700000003000,"content":{"redacts":"$one"}}`),
		}
		// bridgev2 edits parsed content in place (reply fallback removal); the stored event keeps
		// what arrived.
		events[0].Content.AsMessage().RemoveReplyFallback()
		now := time.UnixMilli(1_700_000_010_000)
		for _, evt := range events {
			added, err := s.Add(ctx, "tg.1000", key, evt, now)
			if err != nil || !added {
				t.Fatalf("Add %s = %v, %v", evt.ID, added, err)
			}
		}
		if added, err := s.Add(ctx, "tg.1000", key, events[0], now); err != nil || added {
			t.Fatalf("second Add of the same event = %v, %v; want false, nil", added, err)
		}
		if _, err := s.Add(ctx, "wa.33600000001", networkid.PortalKey{ID: "wa.x"}, rawEvent(t, `{"type":"m.room.message","event_id":"$other","room_id":"!o:hs","sender":"@a:hs","content":{"msgtype":"m.text","body":"x"}}`), now); err != nil {
			t.Fatal(err)
		}
		if err := s.Failed(ctx, "$one", "connection reset"); err != nil {
			t.Fatal(err)
		}
		counts, err := s.Counts(ctx)
		if err != nil || counts["tg.1000"] != 4 || counts["wa.33600000001"] != 1 {
			t.Fatalf("Counts = %v, %v", counts, err)
		}
		list, err := s.List(ctx, "tg.1000")
		if err != nil {
			t.Fatal(err)
		}
		wantIDs := []id.EventID{"$one", "$edit", "$react", "$redact"}
		for i, e := range list {
			if e.EventID != wantIDs[i] || e.Event.ID != wantIDs[i] {
				t.Fatalf("entry %d = %s, want %s", i, e.EventID, wantIDs[i])
			}
			if e.Portal != key || e.RoomID != "!r:hs" || !e.QueuedAt.Equal(now) {
				t.Errorf("entry %d: portal %v room %s queued %v", i, e.Portal, e.RoomID, e.QueuedAt)
			}
		}
		first := list[0]
		if first.Attempts != 1 || first.LastErr != "connection reset" {
			t.Errorf("attempts %d, last error %q", first.Attempts, first.LastErr)
		}
		msg := first.Event.Content.AsMessage()
		if first.Event.Type != event.EventMessage || msg.Body != "> <@b:hs> quoted\n\none" || msg.RelatesTo.GetReplyTo() != "$zero" ||
			first.Event.Sender != "@a:hs" || first.Event.Unsigned.TransactionID != "txn1" || first.Event.Timestamp != 1700000000000 {
			t.Errorf("message came back as %+v / %+v", first.Event, msg)
		}
		if edit := list[1].Event.Content.AsMessage(); edit.RelatesTo.GetReplaceID() != "$one" || edit.NewContent == nil || edit.NewContent.Body != "two" {
			t.Errorf("edit came back as %+v", edit)
		}
		if r := list[2].Event; r.Type != event.EventReaction || r.Content.AsReaction().RelatesTo.Key != "👍" {
			t.Errorf("reaction came back as %+v", r)
		}
		if r := list[3].Event; r.Type != event.EventRedaction || r.Redacts != "$one" {
			t.Errorf("redaction came back as %+v", r)
		}
		next, err := s.Next(ctx, "tg.1000")
		if err != nil || next.EventID != "$one" {
			t.Fatalf("Next = %v, %v", next, err)
		}
		if list[0].Uncertain {
			t.Fatal("a new entry is uncertain")
		}
		if err = s.MarkUncertain(ctx, "$one"); err != nil {
			t.Fatal(err)
		}
		if list, _ = s.List(ctx, "tg.1000"); !list[0].Uncertain || list[1].Uncertain {
			t.Fatalf("after MarkUncertain($one): uncertain %v, %v; want true, false", list[0].Uncertain, list[1].Uncertain)
		}
		if removed, err := s.Delete(ctx, "$one"); err != nil || !removed {
			t.Fatalf("Delete = %v, %v; want removed", removed, err)
		}
		if removed, err := s.Delete(ctx, "$one"); err != nil || removed {
			t.Fatalf("second Delete = %v, %v; want nothing removed", removed, err)
		}
		if next, _ = s.Next(ctx, "tg.1000"); next.EventID != "$edit" {
			t.Fatalf("Next after delete = %s", next.EventID)
		}
		// New rows still sort after the older ones.
		late := rawEvent(t, `{"type":"m.room.message","event_id":"$late","room_id":"!r:hs","sender":"@a:hs","content":{"msgtype":"m.text","body":"late"}}`)
		if _, err = s.Add(ctx, "tg.1000", key, late, now); err != nil {
			t.Fatal(err)
		}
		if list, _ = s.List(ctx, "tg.1000"); len(list) != 4 || list[3].EventID != "$late" {
			t.Fatalf("after a late add: %d entries, last %s", len(list), list[len(list)-1].EventID)
		}
		if next, err = s.Next(ctx, "nobody"); err != nil || next != nil {
			t.Fatalf("Next of an empty login = %v, %v", next, err)
		}
	})
}

func TestIsPlaceholder(t *testing.T) {
	for _, tc := range []struct {
		id   networkid.MessageID
		want bool
	}{
		{"tg.outbox.$abc:hs", true},
		{"wa.outbox.$abc", true},
		{"tg.u5000.12", false},
		{"outbox.$x", false},
		{"", false},
	} {
		if got := IsPlaceholder(tc.id); got != tc.want {
			t.Errorf("IsPlaceholder(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// TestStoreUpgradeFromV1: a queue written by the first schema keeps its rows, which are not
// uncertain.
func TestStoreUpgradeFromV1(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		v1, err := schemaFS.ReadFile("schema/00-latest.sql")
		if err != nil {
			t.Fatal(err)
		}
		// The v1 table is today's without the uncertain column.
		var kept []string
		for _, line := range strings.Split(string(v1), "\n") {
			if !strings.Contains(line, "uncertain") && !strings.Contains(line, "may have it") {
				kept = append(kept, line)
			}
		}
		create := strings.Join(kept, "\n")
		if db.Dialect == dbutil.SQLite {
			create = strings.ReplaceAll(create, "--	id              INTEGER PRIMARY KEY,", "	id              INTEGER PRIMARY KEY,")
			create = strings.ReplaceAll(create, "	id              BIGINT  PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY,", "")
		}
		for _, stmt := range []string{create,
			"CREATE TABLE passerelle_outbox_version (version INTEGER, compat INTEGER)",
			"INSERT INTO passerelle_outbox_version (version, compat) VALUES (1, 1)",
			`INSERT INTO passerelle_outbox (login_id, portal_id, portal_receiver, room_id, event_id, event, queued_at)
				VALUES ('tg.1', 'tg.u2', 'tg.1', '!r:hs', '$old', '{"type":"m.room.message","event_id":"$old","room_id":"!r:hs","sender":"@a:hs","content":{"msgtype":"m.text","body":"old"}}', 1)`,
		} {
			if _, err = db.Exec(ctx, stmt); err != nil {
				t.Fatalf("set up v1: %v\n%s", err, stmt)
			}
		}
		s := NewStore(db)
		if err = s.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, "tg.1")
		if err != nil || len(list) != 1 || list[0].EventID != "$old" || list[0].Uncertain {
			t.Fatalf("after the upgrade: %+v, %v", list, err)
		}
		if err = s.MarkUncertain(ctx, "$old"); err != nil {
			t.Fatal(err)
		}
	})
}
