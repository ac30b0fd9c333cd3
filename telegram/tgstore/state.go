package tgstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/gotd/td/telegram/updates"
)

// StateStorage is the gotd updates.StateStorage on the bridge database. Unlike gotd's in-memory
// storage, SetState leaves the channels' pts alone: they are separate sequences, and wiping them
// would make the bridge skip everything channels received while it was away.
type StateStorage struct{ store *Store }

var (
	_ updates.StateStorage        = StateStorage{}
	_ updates.ChannelAccessHasher = StateStorage{}
	_ updates.UserAccessHasher    = StateStorage{}
)

// ErrNoState is returned by the Set* methods when the account has no state yet, as gotd expects.
var ErrNoState = errors.New("no update state stored for this account")

// State returns the update state storage of every account (gotd passes the account ID).
func (s *Store) State() StateStorage { return StateStorage{store: s} }

func (st StateStorage) GetState(ctx context.Context, userID int64) (updates.State, bool, error) {
	var s updates.State
	err := st.store.db.QueryRow(ctx, "SELECT pts, qts, date, seq FROM telegram_update_state WHERE user_id=$1", userID).
		Scan(&s.Pts, &s.Qts, &s.Date, &s.Seq)
	if errors.Is(err, sql.ErrNoRows) {
		return updates.State{}, false, nil
	} else if err != nil {
		return updates.State{}, false, fmt.Errorf("get update state of %d: %w", userID, err)
	}
	return s, true, nil
}

func (st StateStorage) SetState(ctx context.Context, userID int64, s updates.State) error {
	_, err := st.store.db.Exec(ctx, `
		INSERT INTO telegram_update_state (user_id, pts, qts, date, seq) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET pts=excluded.pts, qts=excluded.qts, date=excluded.date, seq=excluded.seq`,
		userID, s.Pts, s.Qts, s.Date, s.Seq)
	if err != nil {
		return fmt.Errorf("set update state of %d: %w", userID, err)
	}
	return nil
}

func (st StateStorage) update(ctx context.Context, userID int64, what, query string, args ...any) error {
	res, err := st.store.db.Exec(ctx, query, append([]any{userID}, args...)...)
	if err != nil {
		return fmt.Errorf("set %s of %d: %w", what, userID, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set %s of %d: %w", what, userID, ErrNoState)
	}
	return nil
}

func (st StateStorage) SetPts(ctx context.Context, userID int64, pts int) error {
	return st.update(ctx, userID, "pts", "UPDATE telegram_update_state SET pts=$2 WHERE user_id=$1", pts)
}

func (st StateStorage) SetQts(ctx context.Context, userID int64, qts int) error {
	return st.update(ctx, userID, "qts", "UPDATE telegram_update_state SET qts=$2 WHERE user_id=$1", qts)
}

func (st StateStorage) SetDate(ctx context.Context, userID int64, date int) error {
	return st.update(ctx, userID, "date", "UPDATE telegram_update_state SET date=$2 WHERE user_id=$1", date)
}

func (st StateStorage) SetSeq(ctx context.Context, userID int64, seq int) error {
	return st.update(ctx, userID, "seq", "UPDATE telegram_update_state SET seq=$2 WHERE user_id=$1", seq)
}

func (st StateStorage) SetDateSeq(ctx context.Context, userID int64, date, seq int) error {
	return st.update(ctx, userID, "date and seq", "UPDATE telegram_update_state SET date=$2, seq=$3 WHERE user_id=$1", date, seq)
}

func (st StateStorage) GetChannelPts(ctx context.Context, userID, channelID int64) (int, bool, error) {
	var pts int
	err := st.store.db.QueryRow(ctx, "SELECT pts FROM telegram_channel_state WHERE user_id=$1 AND channel_id=$2", userID, channelID).Scan(&pts)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	} else if err != nil {
		return 0, false, fmt.Errorf("get pts of channel %d for %d: %w", channelID, userID, err)
	}
	return pts, true, nil
}

func (st StateStorage) SetChannelPts(ctx context.Context, userID, channelID int64, pts int) error {
	_, err := st.store.db.Exec(ctx, `
		INSERT INTO telegram_channel_state (user_id, channel_id, pts) VALUES ($1, $2, $3)
		ON CONFLICT (user_id, channel_id) DO UPDATE SET pts=excluded.pts`, userID, channelID, pts)
	if err != nil {
		return fmt.Errorf("set pts of channel %d for %d: %w", channelID, userID, err)
	}
	return nil
}

func (st StateStorage) ForEachChannels(ctx context.Context, userID int64, f func(ctx context.Context, channelID int64, pts int) error) error {
	type row struct {
		id  int64
		pts int
	}
	var channels []row
	rows, err := st.store.db.Query(ctx, "SELECT channel_id, pts FROM telegram_channel_state WHERE user_id=$1 ORDER BY channel_id", userID)
	if err != nil {
		return fmt.Errorf("list channels of %d: %w", userID, err)
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.id, &r.pts); err != nil {
			_ = rows.Close()
			return fmt.Errorf("list channels of %d: %w", userID, err)
		}
		channels = append(channels, r)
	}
	if err := rows.Close(); err != nil {
		return fmt.Errorf("list channels of %d: %w", userID, err)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list channels of %d: %w", userID, err)
	}
	// The rows are read before calling f, which may write to the same table (SQLite has one connection).
	for _, r := range channels {
		if err := f(ctx, r.id, r.pts); err != nil {
			return err
		}
	}
	return nil
}

func (st StateStorage) SetChannelAccessHash(ctx context.Context, userID, channelID, accessHash int64) error {
	return st.store.SetAccessHash(ctx, userID, KindChannel, channelID, accessHash)
}

func (st StateStorage) GetChannelAccessHash(ctx context.Context, userID, channelID int64) (int64, bool, error) {
	return st.store.AccessHash(ctx, userID, KindChannel, channelID)
}

func (st StateStorage) SetUserAccessHash(ctx context.Context, userID, targetUserID, accessHash int64) error {
	return st.store.SetAccessHash(ctx, userID, KindUser, targetUserID, accessHash)
}

func (st StateStorage) GetUserAccessHash(ctx context.Context, userID, targetUserID int64) (int64, bool, error) {
	return st.store.AccessHash(ctx, userID, KindUser, targetUserID)
}
