package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Message secrets decrypt later messages that refer to an original one (poll votes, reactions
// to encrypted reactions, edits of bot messages…). The first secret stored for a message wins.
// Lookups also match the chat and sender under their other identity (LID vs phone number),
// since the reference may use the other form than the original message did.

const putMsgSecretQuery = `
	INSERT INTO whatsmeow_message_secrets (our_jid, chat_jid, sender_jid, message_id, key)
	VALUES ($1, $2, $3, $4, $5)
	ON CONFLICT (our_jid, chat_jid, sender_jid, message_id) DO NOTHING
`

// PutMessageSecrets stores several secrets atomically.
func (s *deviceStore) PutMessageSecrets(ctx context.Context, inserts []store.MessageSecretInsert) error {
	if len(inserts) == 0 {
		return nil
	}
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for _, in := range inserts {
			if err := s.PutMessageSecret(ctx, in.Chat, in.Sender, in.ID, in.Secret); err != nil {
				return err
			}
		}
		return nil
	})
}

// PutMessageSecret stores the secret of one message unless one is already stored.
func (s *deviceStore) PutMessageSecret(ctx context.Context, chat, sender types.JID, id types.MessageID, secret []byte) error {
	chatStr, senderStr := chat.ToNonAD().String(), sender.ToNonAD().String()
	sealed, err := s.c.seal(colMessageSecret.Ref(s.jid, chatStr, senderStr, id), secret)
	if err != nil {
		return fmt.Errorf("put secret of message %s in %s: %w", id, chat, err)
	}
	if _, err = s.db.Exec(ctx, putMsgSecretQuery, s.jid, chatStr, senderStr, id, sealed); err != nil {
		return fmt.Errorf("put secret of message %s in %s: %w", id, chat, err)
	}
	return nil
}

// altForms returns the JID (without device) and, when the LID map knows it, its other form.
func (s *deviceStore) altForms(ctx context.Context, jid types.JID) ([]string, error) {
	jid = jid.ToNonAD()
	forms := []string{jid.String()}
	var alt types.JID
	var err error
	switch jid.Server {
	case types.HiddenUserServer:
		alt, err = s.c.lids.GetPNForLID(ctx, jid)
	case types.DefaultUserServer:
		alt, err = s.c.lids.GetLIDForPN(ctx, jid)
	}
	if err != nil {
		return nil, err
	}
	if !alt.IsEmpty() {
		forms = append(forms, alt.ToNonAD().String())
	}
	return forms, nil
}

// GetMessageSecret returns the secret of a message and the sender it was stored under, or nil
// and an empty JID when unknown.
func (s *deviceStore) GetMessageSecret(ctx context.Context, chat, sender types.JID, id types.MessageID) ([]byte, types.JID, error) {
	chats, err := s.altForms(ctx, chat)
	if err != nil {
		return nil, types.EmptyJID, fmt.Errorf("get secret of message %s: resolve chat: %w", id, err)
	}
	senders, err := s.altForms(ctx, sender)
	if err != nil {
		return nil, types.EmptyJID, fmt.Errorf("get secret of message %s: resolve sender: %w", id, err)
	}
	args := []any{s.jid, id}
	for _, c := range chats {
		args = append(args, c)
	}
	for _, snd := range senders {
		args = append(args, snd)
	}
	query := `SELECT key, chat_jid, sender_jid FROM whatsmeow_message_secrets WHERE our_jid=$1 AND message_id=$2` +
		` AND chat_jid IN (` + placeholders(3, len(chats)) + `)` +
		` AND sender_jid IN (` + placeholders(3+len(chats), len(senders)) + `)` +
		` ORDER BY CASE WHEN chat_jid=$3 THEN 0 ELSE 1 END, CASE WHEN sender_jid=$` + fmt.Sprint(3+len(chats)) + ` THEN 0 ELSE 1 END LIMIT 1`
	var sealed []byte
	var storedChat, storedSender string
	err = s.db.QueryRow(ctx, query, args...).Scan(&sealed, &storedChat, &storedSender)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, types.EmptyJID, nil
	} else if err != nil {
		return nil, types.EmptyJID, fmt.Errorf("get secret of message %s in %s: %w", id, chat, err)
	}
	realSender, err := types.ParseJID(storedSender)
	if err != nil {
		return nil, types.EmptyJID, fmt.Errorf("get secret of message %s in %s: parse stored sender: %w", id, chat, err)
	}
	secret, err := s.c.open(colMessageSecret.Ref(s.jid, storedChat, storedSender, id), sealed)
	if err != nil {
		return nil, types.EmptyJID, err
	}
	return secret, realSender, nil
}
