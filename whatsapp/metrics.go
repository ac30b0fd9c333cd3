package whatsapp

import (
	"context"
	"errors"
	"time"

	"maunium.net/go/mautrix/bridgev2"

	"github.com/passerelle-bridge/passerelle/metrics"
)

// metricsNetwork labels WhatsApp's series in package metrics.
const metricsNetwork = "wa"

// errNotQueued stands for a hand-off that bridgev2 refused without saying why.
var errNotQueued = errors.New("bridgev2 did not take the event")

type arrivalKey struct{}

// withArrival remembers when a whatsmeow event reached the handler, so the latency of every
// bridgev2 event made from it is measured from there.
func withArrival(ctx context.Context, at time.Time) context.Context {
	return context.WithValue(ctx, arrivalKey{}, at)
}

// arrival is the time withArrival stored, or now when there is none (events not from whatsmeow).
func arrival(ctx context.Context) time.Time {
	if at, ok := ctx.Value(arrivalKey{}).(time.Time); ok {
		return at
	}
	return time.Now()
}

// remoteEventKind names a bridgev2 remote event type in the kind label.
func remoteEventKind(typ bridgev2.RemoteEventType) string {
	switch typ {
	case bridgev2.RemoteEventMessage, bridgev2.RemoteEventMessageUpsert:
		return "message"
	case bridgev2.RemoteEventEdit:
		return "edit"
	case bridgev2.RemoteEventMessageRemove:
		return "revoke"
	case bridgev2.RemoteEventReaction:
		return "reaction"
	case bridgev2.RemoteEventReactionRemove:
		return "reaction_remove"
	case bridgev2.RemoteEventReadReceipt, bridgev2.RemoteEventDeliveryReceipt:
		return "receipt"
	case bridgev2.RemoteEventTyping:
		return "typing"
	case bridgev2.RemoteEventChatInfoChange:
		return "chat_info"
	case bridgev2.RemoteEventChatResync:
		return "chat_resync"
	default:
		return "other"
	}
}

// observeToMatrix counts one event handed to bridgev2 (WhatsApp → Matrix).
func observeToMatrix(ctx context.Context, kind string, res bridgev2.EventHandlingResult) {
	var err error
	if !res.Success {
		err = res.Error
		if err == nil {
			err = errNotQueued
		}
	}
	metrics.ObserveEvent(metricsNetwork, metrics.ToMatrix, kind, arrival(ctx), err)
}

// observeToRemote counts one Matrix event handled by the connector (Matrix → WhatsApp). Use it
// deferred at a handler's entry with the handler's named error result:
//
//	defer observeToRemote("edit", time.Now(), &err)
func observeToRemote(kind string, start time.Time, err *error) {
	metrics.ObserveEvent(metricsNetwork, metrics.ToRemote, kind, start, *err)
}

// observeError counts a WhatsApp error of a kind (connect, stream, decrypt).
func observeError(kind string) { metrics.ObserveError(metricsNetwork, kind) }
