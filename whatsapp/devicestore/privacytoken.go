package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Privacy (trusted contact) tokens that users gave us; whatsmeow attaches them to messages and
// presence subscriptions. A token is only replaced by one at least as new.

const (
	putPrivacyTokensPrefix = `INSERT INTO whatsmeow_privacy_tokens (our_jid, their_jid, token, timestamp) VALUES `
	putPrivacyTokensSuffix = `
		ON CONFLICT (our_jid, their_jid) DO UPDATE SET token=excluded.token, timestamp=excluded.timestamp
		WHERE excluded.timestamp >= whatsmeow_privacy_tokens.timestamp
	`
)

// PutPrivacyTokens stores tokens; of several for one user the newest wins.
func (s *deviceStore) PutPrivacyTokens(ctx context.Context, tokens ...store.PrivacyToken) error {
	if len(tokens) == 0 {
		return nil
	}
	newest := make(map[types.JID]store.PrivacyToken, len(tokens))
	var order []types.JID
	for _, t := range tokens {
		user := t.User.ToNonAD()
		prev, ok := newest[user]
		if !ok {
			order = append(order, user)
		}
		if !ok || !t.Timestamp.Before(prev.Timestamp) {
			newest[user] = t
		}
	}
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for chunk := range slices.Chunk(order, batchSize) {
			args := make([]any, 0, 1+3*len(chunk))
			args = append(args, s.jid)
			query := putPrivacyTokensPrefix
			for i, user := range chunk {
				if i > 0 {
					query += ", "
				}
				query += fmt.Sprintf("($1, $%d, $%d, $%d)", 2+3*i, 3+3*i, 4+3*i)
				t := newest[user]
				sealed, err := s.c.seal(colPrivacyToken.Ref(s.jid, user.String()), t.Token)
				if err != nil {
					return fmt.Errorf("put privacy token of %s: %w", user, err)
				}
				args = append(args, user.String(), sealed, t.Timestamp.Unix())
			}
			if _, err := s.db.Exec(ctx, query+putPrivacyTokensSuffix, args...); err != nil {
				return fmt.Errorf("put %d privacy tokens: %w", len(chunk), err)
			}
		}
		return nil
	})
}

// GetPrivacyToken returns the newest token of a user, under either their LID or phone number,
// or nil when there is none.
func (s *deviceStore) GetPrivacyToken(ctx context.Context, user types.JID) (*store.PrivacyToken, error) {
	forms, err := s.altForms(ctx, user)
	if err != nil {
		return nil, fmt.Errorf("get privacy token of %s: resolve user: %w", user, err)
	}
	args := []any{s.jid}
	for _, f := range forms {
		args = append(args, f)
	}
	query := `SELECT token, their_jid, timestamp FROM whatsmeow_privacy_tokens WHERE our_jid=$1 AND their_jid IN (` +
		placeholders(2, len(forms)) + `) ORDER BY timestamp DESC LIMIT 1`
	token := store.PrivacyToken{User: user.ToNonAD()}
	var ts int64
	var sealed []byte
	var storedUser string
	err = s.db.QueryRow(ctx, query, args...).Scan(&sealed, &storedUser, &ts)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get privacy token of %s: %w", user, err)
	}
	if token.Token, err = s.c.open(colPrivacyToken.Ref(s.jid, storedUser), sealed); err != nil {
		return nil, err
	}
	token.Timestamp = time.Unix(ts, 0)
	return &token, nil
}
