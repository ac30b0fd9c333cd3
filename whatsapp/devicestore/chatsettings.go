package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Per-chat settings synced from the phone's app state: mute, pin, archive.
// muted_until is unix seconds, 0 for not muted and -1 for muted forever.

const getChatSettingsQuery = `SELECT muted_until, pinned, archived FROM whatsmeow_chat_settings WHERE our_jid=$1 AND chat_jid=$2`

// putChatSettingQuery upserts one column; column names come only from the constants below.
func putChatSettingQuery(column string) string {
	return `INSERT INTO whatsmeow_chat_settings (our_jid, chat_jid, ` + column + `) VALUES ($1, $2, $3)
		ON CONFLICT (our_jid, chat_jid) DO UPDATE SET ` + column + `=excluded.` + column
}

func (s *deviceStore) putChatSetting(ctx context.Context, column string, chat types.JID, value any) error {
	if _, err := s.db.Exec(ctx, putChatSettingQuery(column), s.jid, chat.ToNonAD().String(), value); err != nil {
		return fmt.Errorf("put %s of chat %s: %w", column, chat, err)
	}
	return nil
}

// PutMutedUntil stores when a chat's mute ends; the zero time unmutes, store.MutedForever
// mutes for good.
func (s *deviceStore) PutMutedUntil(ctx context.Context, chat types.JID, mutedUntil time.Time) error {
	var val int64
	switch {
	case mutedUntil.Equal(store.MutedForever):
		val = -1
	case !mutedUntil.IsZero():
		val = mutedUntil.Unix()
	}
	return s.putChatSetting(ctx, "muted_until", chat, val)
}

// PutPinned stores whether a chat is pinned.
func (s *deviceStore) PutPinned(ctx context.Context, chat types.JID, pinned bool) error {
	return s.putChatSetting(ctx, "pinned", chat, pinned)
}

// PutArchived stores whether a chat is archived.
func (s *deviceStore) PutArchived(ctx context.Context, chat types.JID, archived bool) error {
	return s.putChatSetting(ctx, "archived", chat, archived)
}

// GetChatSettings returns a chat's settings; Found is false when none were ever stored.
func (s *deviceStore) GetChatSettings(ctx context.Context, chat types.JID) (types.LocalChatSettings, error) {
	var settings types.LocalChatSettings
	var mutedUntil int64
	err := s.db.QueryRow(ctx, getChatSettingsQuery, s.jid, chat.ToNonAD().String()).Scan(&mutedUntil, &settings.Pinned, &settings.Archived)
	if errors.Is(err, sql.ErrNoRows) {
		return types.LocalChatSettings{}, nil
	} else if err != nil {
		return types.LocalChatSettings{}, fmt.Errorf("get settings of chat %s: %w", chat, err)
	}
	settings.Found = true
	switch {
	case mutedUntil < 0:
		settings.MutedUntil = store.MutedForever
	case mutedUntil > 0:
		settings.MutedUntil = time.Unix(mutedUntil, 0)
	}
	return settings, nil
}
