package hstest

import (
	"encoding/json"
	"testing"
	"time"

	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestEventConstructorsRoundTrip sends the constructed events through the JSON an appservice
// receives and parses them back the way mautrix does, so a wrong shape shows up here and not as
// a silently ignored event in a bridge test.
func TestEventConstructorsRoundTrip(t *testing.T) {
	room := id.RoomID("!room:localhost")
	alice := UserID("alice")
	target := NewEventID()
	at := time.UnixMilli(1_700_000_000_000)
	txn := &appservice.Transaction{
		Events:          []*event.Event{RedactionEvent(room, alice, target, "oops")},
		EphemeralEvents: []*event.Event{TypingEvent(room, alice), TypingEvent(room), ReadReceiptEvent(room, target, alice, at)},
	}
	raw, err := json.Marshal(txn)
	if err != nil {
		t.Fatal(err)
	}
	var got appservice.Transaction
	if err = json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	for _, evt := range append(got.Events, got.EphemeralEvents...) {
		if evt.Type == event.EventRedaction {
			evt.Type.Class = event.MessageEventType
		} else {
			evt.Type.Class = event.EphemeralEventType
		}
		if err = evt.Content.ParseRaw(evt.Type); err != nil {
			t.Fatalf("parse %s: %v", evt.Type.Type, err)
		}
		if evt.RoomID != room {
			t.Errorf("%s: room %q", evt.Type.Type, evt.RoomID)
		}
	}

	red := got.Events[0]
	if red.Redacts != target || red.Content.AsRedaction().Redacts != target || red.Content.AsRedaction().Reason != "oops" {
		t.Errorf("redaction: top-level %q, content %+v", red.Redacts, red.Content.AsRedaction())
	}
	if red.Sender != alice || red.ID == "" || red.ID == target || red.Timestamp == 0 {
		t.Errorf("redaction envelope: %+v", red)
	}
	if users := got.EphemeralEvents[0].Content.AsTyping().UserIDs; len(users) != 1 || users[0] != alice {
		t.Errorf("typing users %v, want [alice]", users)
	}
	if users := got.EphemeralEvents[1].Content.AsTyping().UserIDs; users == nil || len(users) != 0 {
		t.Errorf("stopped typing: users %#v, want an empty list (not null)", users)
	}
	receipt := got.EphemeralEvents[2].Content.AsReceipt()
	read, ok := (*receipt)[target][event.ReceiptTypeRead][alice]
	if !ok || !read.Timestamp.Equal(at) {
		t.Errorf("receipt %+v, want alice read %s at %s", receipt, target, at)
	}
	if NewEventID() == NewEventID() {
		t.Error("NewEventID repeats")
	}
}
