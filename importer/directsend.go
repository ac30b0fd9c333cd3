package importer

import (
	"context"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/event"
)

// encryptionRecheck is how long the importer trusts its last look at whether the chat's room is
// encrypted before it looks again.
const encryptionRecheck = time.Second

// directSend sends a ghost's message with the ghost's appservice client itself, not through
// bridgev2's MatrixAPI, where bridgev2 would make the very same request: a ghost (not a double
// puppet) that the importer has joined, in a room the importer created (standalone or archive,
// never a portal, whose encryption is bridgev2's business) that is not encrypted. For every
// message bridgev2 asks its state store whether the room is encrypted and whether the sender is
// joined: two database round trips, which BenchmarkImport measured at 1.3 to 2.2 ms per message
// while Dendrite works on the same two cores, about a fifth of a message's time; the importer's
// own time per message fell from 2.0–2.8 ms to 0.6–0.7 ms without them. Here the first
// question is asked once a second (encryptionRecheck) and the second is known
// (chatRun.joined). sent is false when the message must go through bridgev2 (nothing was sent
// then).
func (r *run) directSend(ctx context.Context, intent bridgev2.MatrixAPI, evtType event.Type, content *event.Content, extra *bridgev2.MatrixSendExtra) (resp *mautrix.RespSendEvent, sent bool, err error) {
	c := r.chat
	as, ok := intent.(*matrix.ASIntent)
	if !ok || c.kind == KindPortal || as.Matrix.IsCustomPuppet || !c.joined[as.Matrix.UserID] {
		return nil, false, nil
	}
	if msg, ok := content.Parsed.(*event.MessageEventContent); ok && msg.BeeperPerMessageProfile != nil {
		return nil, false, nil // bridgev2 adds a fallback for it
	}
	if time.Since(c.plainCheckedAt) > encryptionRecheck {
		encrypted, err := as.Connector.StateStore.IsEncrypted(ctx, c.room)
		if err != nil {
			return nil, false, nil // bridgev2 asks again, and reports the error
		}
		c.plain = !encrypted && !as.Connector.Config.Encryption.Require
		c.plainCheckedAt = time.Now()
	}
	if !c.plain {
		return nil, false, nil
	}
	resp, err = as.Matrix.Client.SendMessageEvent(ctx, c.room, evtType, content, mautrix.ReqSendEvent{
		Timestamp: extra.Timestamp.UnixMilli(), TransactionID: extra.TransactionID,
	})
	return resp, true, err
}
