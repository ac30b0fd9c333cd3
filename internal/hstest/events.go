package hstest

import (
	"crypto/rand"
	"encoding/hex"
	"time"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// The constructors below build the events Dendrite v0.13.8 does not pass to appservices, in the
// shape a homeserver puts into a transaction, for DeliverTransaction:
//
//	txn := &appservice.Transaction{EphemeralEvents: []*event.Event{hstest.TypingEvent(room, alice.UserID)}}
//	err := hstest.DeliverTransaction(ctx, br.Registration, "", txn)

// TypingEvent is an m.typing EDU saying that exactly users are typing in room (none: stopped).
func TypingEvent(room id.RoomID, users ...id.UserID) *event.Event {
	if users == nil {
		users = []id.UserID{}
	}
	return &event.Event{
		Type:    event.EphemeralEventTyping,
		RoomID:  room,
		Content: event.Content{Parsed: &event.TypingEventContent{UserIDs: users}},
	}
}

// ReadReceiptEvent is an m.receipt EDU: user has read room up to and including eventID.
func ReadReceiptEvent(room id.RoomID, eventID id.EventID, user id.UserID, at time.Time) *event.Event {
	content := event.ReceiptEventContent{}
	content.Set(eventID, event.ReceiptTypeRead, user, event.ReadReceipt{Timestamp: at})
	return &event.Event{
		Type:    event.EphemeralEventReceipt,
		RoomID:  room,
		Content: event.Content{Parsed: &content},
	}
}

// RedactionEvent is the m.room.redaction PDU a homeserver sends when sender deletes redacts; the
// target is set both at the top level (room versions up to 10, Dendrite's default) and in the
// content (v11). It gets a fresh event ID on the test server.
func RedactionEvent(room id.RoomID, sender id.UserID, redacts id.EventID, reason string) *event.Event {
	return &event.Event{
		Type:      event.EventRedaction,
		RoomID:    room,
		Sender:    sender,
		ID:        NewEventID(),
		Timestamp: time.Now().UnixMilli(),
		Redacts:   redacts,
		Content:   event.Content{Parsed: &event.RedactionEventContent{Redacts: redacts, Reason: reason}},
	}
}

// NewEventID returns a unique event ID on the test server, for events delivered directly.
func NewEventID() id.EventID {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return id.EventID("$hstest" + hex.EncodeToString(b) + ":" + ServerName)
}
