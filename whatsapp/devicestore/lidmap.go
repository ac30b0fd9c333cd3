package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// lidMap is the global map between WhatsApp's hidden user IDs (LIDs, @lid) and phone numbers
// (@s.whatsapp.net). It maps users; lookups carry the device number of the JID asked about
// over to the answer. Each LID has one phone number and each phone number one LID: a new
// mapping replaces older ones on either side. It reads the database every time rather than
// caching, so a rolled-back transaction can never leave a stale answer in memory.
type lidMap struct {
	db *dbutil.Database
}

var _ store.LIDStore = (*lidMap)(nil)

const (
	deleteConflictingLIDQuery = `DELETE FROM whatsmeow_lid_map WHERE pn=$2 AND lid<>$1`
	putLIDMappingQuery        = `
		INSERT INTO whatsmeow_lid_map (lid, pn) VALUES ($1, $2)
		ON CONFLICT (lid) DO UPDATE SET pn=excluded.pn WHERE whatsmeow_lid_map.pn<>excluded.pn
	`
	hasLIDMappingQuery = `SELECT COUNT(*) FROM whatsmeow_lid_map WHERE lid=$1 AND pn=$2`
	getLIDForPNQuery   = `SELECT lid FROM whatsmeow_lid_map WHERE pn=$1`
	getPNForLIDQuery   = `SELECT pn FROM whatsmeow_lid_map WHERE lid=$1`
)

func validMapping(lid, pn types.JID) error {
	if lid.Server != types.HiddenUserServer || lid.User == "" {
		return fmt.Errorf("LID mapping: %q is not a LID (want user@%s)", lid, types.HiddenUserServer)
	}
	if pn.Server != types.DefaultUserServer || pn.User == "" {
		return fmt.Errorf("LID mapping: %q is not a phone number JID (want user@%s)", pn, types.DefaultUserServer)
	}
	return nil
}

func (m *lidMap) put(ctx context.Context, lid, pn types.JID) error {
	if _, err := m.db.Exec(ctx, deleteConflictingLIDQuery, lid.User, pn.User); err != nil {
		return fmt.Errorf("drop old LID of %s: %w", pn.User, err)
	}
	if _, err := m.db.Exec(ctx, putLIDMappingQuery, lid.User, pn.User); err != nil {
		return fmt.Errorf("map %s to %s: %w", lid.User, pn.User, err)
	}
	return nil
}

// PutLIDMapping records that lid and pn are the same user.
func (m *lidMap) PutLIDMapping(ctx context.Context, lid, pn types.JID) error {
	if err := validMapping(lid, pn); err != nil {
		return err
	}
	// whatsmeow records the sender's mapping with every message it receives; one that is held
	// already costs this read instead of a write transaction (four statements) on the path of
	// every incoming message. Nothing is cached, so a rolled-back write cannot mislead it.
	var n int
	if err := m.db.QueryRow(ctx, hasLIDMappingQuery, lid.User, pn.User).Scan(&n); err == nil && n == 1 {
		return nil
	}
	return m.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		return m.put(ctx, lid, pn)
	})
}

// PutManyLIDMappings records several mappings atomically, in order (a later entry wins over an
// earlier one). Invalid entries are skipped with a debug log, as whatsmeow feeds in whatever
// the server sent.
func (m *lidMap) PutManyLIDMappings(ctx context.Context, mappings []store.LIDMapping) error {
	valid := make([]store.LIDMapping, 0, len(mappings))
	for _, mp := range mappings {
		if err := validMapping(mp.LID, mp.PN); err != nil {
			zerolog.Ctx(ctx).Debug().Err(err).Msg("Ignoring invalid LID mapping")
			continue
		}
		valid = append(valid, mp)
	}
	if len(valid) == 0 {
		return nil
	}
	return m.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for _, mp := range valid {
			if err := m.put(ctx, mp.LID, mp.PN); err != nil {
				return err
			}
		}
		return nil
	})
}

func (m *lidMap) lookup(ctx context.Context, query string, from types.JID, toServer string) (types.JID, error) {
	var user string
	err := m.db.QueryRow(ctx, query, from.User).Scan(&user)
	if errors.Is(err, sql.ErrNoRows) {
		return types.EmptyJID, nil
	} else if err != nil {
		return types.EmptyJID, fmt.Errorf("look up LID mapping of %s: %w", from, err)
	}
	return types.JID{User: user, Device: from.Device, Server: toServer}, nil
}

// GetPNForLID returns the phone number JID (same device number) of a LID, or an empty JID.
func (m *lidMap) GetPNForLID(ctx context.Context, lid types.JID) (types.JID, error) {
	if lid.Server != types.HiddenUserServer {
		return types.EmptyJID, fmt.Errorf("GetPNForLID: %s is not a LID", lid)
	}
	return m.lookup(ctx, getPNForLIDQuery, lid, types.DefaultUserServer)
}

// GetLIDForPN returns the LID (same device number) of a phone number JID, or an empty JID.
func (m *lidMap) GetLIDForPN(ctx context.Context, pn types.JID) (types.JID, error) {
	if pn.Server != types.DefaultUserServer {
		return types.EmptyJID, fmt.Errorf("GetLIDForPN: %s is not a phone number JID", pn)
	}
	return m.lookup(ctx, getLIDForPNQuery, pn, types.HiddenUserServer)
}

// GetManyLIDsForPNs maps each phone number JID (with device) to its LID with the same device.
// Unknown numbers and JIDs that are not phone numbers are left out.
func (m *lidMap) GetManyLIDsForPNs(ctx context.Context, pns []types.JID) (map[types.JID]types.JID, error) {
	result := make(map[types.JID]types.JID, len(pns))
	byUser := make(map[string][]types.JID)
	for _, pn := range pns {
		if pn.Server == types.DefaultUserServer {
			byUser[pn.User] = append(byUser[pn.User], pn)
		}
	}
	users := make([]string, 0, len(byUser))
	for user := range byUser {
		users = append(users, user)
	}
	slices.Sort(users)
	for chunk := range slices.Chunk(users, batchSize) {
		args := make([]any, len(chunk))
		for i, u := range chunk {
			args[i] = u
		}
		rows, err := m.db.Query(ctx, `SELECT lid, pn FROM whatsmeow_lid_map WHERE pn IN (`+placeholders(1, len(chunk))+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("look up LIDs of %d numbers: %w", len(chunk), err)
		}
		for rows.Next() {
			var lid, pn string
			if err = rows.Scan(&lid, &pn); err != nil {
				_ = rows.Close()
				return nil, fmt.Errorf("scan LID mapping: %w", err)
			}
			for _, dev := range byUser[pn] {
				result[dev] = types.JID{User: lid, Device: dev.Device, Server: types.HiddenUserServer}
			}
		}
		if err = rows.Close(); err != nil {
			return nil, fmt.Errorf("read LID mappings: %w", err)
		} else if err = rows.Err(); err != nil {
			return nil, fmt.Errorf("read LID mappings: %w", err)
		}
	}
	return result, nil
}
