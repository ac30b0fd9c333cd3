package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
)

// Sent messages are kept so a retry receipt (a recipient that could not decrypt asks for the
// message again) can be answered after a restart: whatsmeow only remembers the last 256 sent
// messages in memory and otherwise asks Client.GetMessageForRetry, which RetryMessageGetter
// implements on this table. Rows older than SentMessageMaxAge are pruned.

const (
	putSentMessageQuery = `
		INSERT INTO whatsmeow_sent_message (our_jid, chat_jid, message_id, message, timestamp)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (our_jid, chat_jid, message_id) DO UPDATE SET message=excluded.message, timestamp=excluded.timestamp
	`
	getSentMessageQuery    = `SELECT message FROM whatsmeow_sent_message WHERE our_jid=$1 AND chat_jid=$2 AND message_id=$3`
	pruneSentMessagesQuery = `DELETE FROM whatsmeow_sent_message WHERE timestamp < $1`
)

// sentPruneInterval is how often PutSentMessage prunes old rows by itself.
const sentPruneInterval = time.Hour

func (c *Container) sentMaxAge() time.Duration {
	if c.SentMessageMaxAge > 0 {
		return c.SentMessageMaxAge
	}
	return DefaultSentMessageMaxAge
}

// PutSentMessage remembers a message our device ourJID sent to chat, for answering retry
// receipts. Call it after a successful SendMessage with the message as sent (ts is the send
// time). It also prunes expired rows about once an hour. The device must be stored.
func (c *Container) PutSentMessage(ctx context.Context, ourJID, chat types.JID, id types.MessageID, msg *waE2E.Message, ts time.Time) error {
	if msg == nil {
		return fmt.Errorf("put sent message %s: message is nil", id)
	}
	if id == "" {
		return errors.New("put sent message: message ID is empty")
	}
	data, err := proto.Marshal(msg)
	if err != nil {
		return fmt.Errorf("put sent message %s: marshal: %w", id, err)
	}
	chatStr := chat.ToNonAD().String()
	sealed, err := c.seal(colSentMessage.Ref(ourJID.String(), chatStr, id), data)
	if err != nil {
		return fmt.Errorf("put sent message %s in %s: %w", id, chat, err)
	}
	if _, err = c.db.Exec(ctx, putSentMessageQuery, ourJID.String(), chatStr, id, sealed, ts.UnixMilli()); err != nil {
		return fmt.Errorf("put sent message %s in %s: %w", id, chat, err)
	}
	now := time.Now()
	if last := c.lastSentPrune.Load(); now.UnixMilli()-last > sentPruneInterval.Milliseconds() &&
		c.lastSentPrune.CompareAndSwap(last, now.UnixMilli()) {
		if _, err = c.PruneSentMessages(ctx, now.Add(-c.sentMaxAge())); err != nil {
			c.log.Warn().Err(err).Msg("Failed to prune old sent messages")
		}
	}
	return nil
}

// GetSentMessage returns a message ourJID sent to chat, or nil without error when it is not
// kept (never stored, pruned, or the device logged out). A chat given as LID also finds a
// message stored under the phone number, and the other way round.
func (c *Container) GetSentMessage(ctx context.Context, ourJID, chat types.JID, id types.MessageID) (*waE2E.Message, error) {
	chat = chat.ToNonAD()
	candidates := []types.JID{chat}
	var alt types.JID
	var err error
	switch chat.Server {
	case types.HiddenUserServer:
		alt, err = c.lids.GetPNForLID(ctx, chat)
	case types.DefaultUserServer:
		alt, err = c.lids.GetLIDForPN(ctx, chat)
	}
	if err != nil {
		return nil, fmt.Errorf("get sent message %s: %w", id, err)
	}
	if !alt.IsEmpty() {
		candidates = append(candidates, alt.ToNonAD())
	}
	for _, candidate := range candidates {
		var data []byte
		err = c.db.QueryRow(ctx, getSentMessageQuery, ourJID.String(), candidate.String(), id).Scan(&data)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		} else if err != nil {
			return nil, fmt.Errorf("get sent message %s in %s: %w", id, candidate, err)
		}
		if data, err = c.open(colSentMessage.Ref(ourJID.String(), candidate.String(), id), data); err != nil {
			return nil, err
		}
		var msg waE2E.Message
		if err = proto.Unmarshal(data, &msg); err != nil {
			return nil, fmt.Errorf("get sent message %s in %s: unmarshal: %w", id, candidate, err)
		}
		return &msg, nil
	}
	return nil, nil
}

// PruneSentMessages deletes sent messages older than before, of every device, and returns how
// many went.
func (c *Container) PruneSentMessages(ctx context.Context, before time.Time) (int64, error) {
	res, err := c.db.Exec(ctx, pruneSentMessagesQuery, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("prune sent messages: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("prune sent messages: rows affected: %w", err)
	}
	return n, nil
}

// retryLookupTimeout bounds the database lookup done from inside whatsmeow's receipt handler.
const retryLookupTimeout = 10 * time.Second

// RetryMessageGetter returns a function for whatsmeow.Client.GetMessageForRetry of the client
// whose device is ourJID: it answers from the sent-message table. The hook has no context or
// error, so lookups are bounded by a timeout and failures are logged and answered with nil
// (whatsmeow then reports that the message could not be found).
func (c *Container) RetryMessageGetter(ourJID types.JID) func(requester, to types.JID, id types.MessageID) *waE2E.Message {
	return func(requester, to types.JID, id types.MessageID) *waE2E.Message {
		ctx, cancel := context.WithTimeout(context.Background(), retryLookupTimeout)
		defer cancel()
		msg, err := c.GetSentMessage(ctx, ourJID, to, id)
		if err != nil {
			c.log.Err(err).Stringer("requester", requester).Stringer("chat", to).Str("message_id", id).
				Msg("Failed to load sent message for retry receipt")
			return nil
		}
		if msg == nil {
			c.log.Debug().Stringer("requester", requester).Stringer("chat", to).Str("message_id", id).
				Msg("Sent message for retry receipt not kept")
		}
		return msg
	}
}
