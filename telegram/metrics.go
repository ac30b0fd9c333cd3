package telegram

import (
	"context"
	"strings"
	"time"

	"maunium.net/go/mautrix/bridgev2"

	"github.com/passerelle-bridge/passerelle/metrics"
)

// metricsNetwork is the network label of the Telegram connector's series.
const metricsNetwork = "tg"

type arrivalKey struct{}

// withArrival marks ctx with the time a Telegram update arrived, so the events made from it
// are timed from then (see observeToMatrix).
func withArrival(ctx context.Context, at time.Time) context.Context {
	return context.WithValue(ctx, arrivalKey{}, at)
}

// arrival is the time withArrival recorded, or now for events not made from an update
// (resyncs started by the bridge itself).
func arrival(ctx context.Context) time.Time {
	if at, ok := ctx.Value(arrivalKey{}).(time.Time); ok {
		return at
	}
	return time.Now()
}

// remoteEventKinds names the kind label of the remote events the connector hands over.
var remoteEventKinds = map[bridgev2.RemoteEventType]string{
	bridgev2.RemoteEventMessage:         "message",
	bridgev2.RemoteEventMessageUpsert:   "message",
	bridgev2.RemoteEventEdit:            "edit",
	bridgev2.RemoteEventMessageRemove:   "delete",
	bridgev2.RemoteEventReaction:        "reaction",
	bridgev2.RemoteEventReactionRemove:  "reaction",
	bridgev2.RemoteEventReactionSync:    "reaction",
	bridgev2.RemoteEventReadReceipt:     "receipt",
	bridgev2.RemoteEventDeliveryReceipt: "receipt",
	bridgev2.RemoteEventMarkUnread:      "receipt",
	bridgev2.RemoteEventTyping:          "typing",
	bridgev2.RemoteEventChatInfoChange:  "chat_info",
	bridgev2.RemoteEventChatResync:      "chat_resync",
	bridgev2.RemoteEventChatDelete:      "chat_delete",
	bridgev2.RemoteEventBackfill:        "backfill",
}

// remoteEventKind is the kind label of a remote event type.
func remoteEventKind(t bridgev2.RemoteEventType) string {
	if kind, ok := remoteEventKinds[t]; ok {
		return kind
	}
	return strings.ToLower(strings.TrimPrefix(t.String(), "RemoteEvent"))
}

// observeToMatrix counts one remote event handed to bridgev2, timed from the update's arrival;
// err is the hand-off failure.
func observeToMatrix(ctx context.Context, evt bridgev2.RemoteEvent, err error) {
	metrics.ObserveEvent(metricsNetwork, metrics.ToMatrix, remoteEventKind(evt.GetType()), arrival(ctx), err)
}

// observeToRemote counts one Matrix event sent to Telegram. Call it deferred at the handler's
// entry, with the handler's named error result: defer observeToRemote("message", time.Now(), &err).
func observeToRemote(kind string, start time.Time, err *error) {
	metrics.ObserveEvent(metricsNetwork, metrics.ToRemote, kind, start, *err)
}
