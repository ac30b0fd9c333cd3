package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"go.mau.fi/whatsmeow/store"
)

// App state collections: the version and LTHash of each collection, and the value MAC of every
// index MAC (needed to compute the next hash when a mutation overwrites or removes an entry).
// Deleting a collection's version cascades to its MACs (a full resync starts from nothing).

const (
	putAppStateVersionQuery = `
		INSERT INTO whatsmeow_app_state_version (our_jid, name, version, hash) VALUES ($1, $2, $3, $4)
		ON CONFLICT (our_jid, name) DO UPDATE SET version=excluded.version, hash=excluded.hash
	`
	getAppStateVersionQuery    = `SELECT version, hash FROM whatsmeow_app_state_version WHERE our_jid=$1 AND name=$2`
	deleteAppStateVersionQuery = `DELETE FROM whatsmeow_app_state_version WHERE our_jid=$1 AND name=$2`
	putMutationMACsPrefix      = `INSERT INTO whatsmeow_app_state_mutation_macs (our_jid, name, version, index_mac, value_mac) VALUES `
	putMutationMACsSuffix      = ` ON CONFLICT (our_jid, name, version, index_mac) DO UPDATE SET value_mac=excluded.value_mac`
	getMutationMACQuery        = `
		SELECT value_mac FROM whatsmeow_app_state_mutation_macs
		WHERE our_jid=$1 AND name=$2 AND index_mac=$3 ORDER BY version DESC LIMIT 1
	`
)

// PutAppStateVersion records a collection's version and hash.
func (s *deviceStore) PutAppStateVersion(ctx context.Context, name string, version uint64, hash [128]byte) error {
	if _, err := s.db.Exec(ctx, putAppStateVersionQuery, s.jid, name, int64(version), hash[:]); err != nil {
		return fmt.Errorf("put app state version of %s: %w", name, err)
	}
	return nil
}

// GetAppStateVersion returns the collection's version and hash; an unknown collection is at
// version 0 with a zero hash, which is where a first sync starts.
func (s *deviceStore) GetAppStateVersion(ctx context.Context, name string) (uint64, [128]byte, error) {
	var version int64
	var hash []byte
	err := s.db.QueryRow(ctx, getAppStateVersionQuery, s.jid, name).Scan(&version, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, [128]byte{}, nil
	} else if err != nil {
		return 0, [128]byte{}, fmt.Errorf("get app state version of %s: %w", name, err)
	} else if len(hash) != 128 {
		return 0, [128]byte{}, fmt.Errorf("app state version of %s: stored hash is %d bytes, want 128", name, len(hash))
	}
	return uint64(version), [128]byte(hash), nil
}

// DeleteAppStateVersion forgets a collection, with all its mutation MACs.
func (s *deviceStore) DeleteAppStateVersion(ctx context.Context, name string) error {
	if _, err := s.db.Exec(ctx, deleteAppStateVersionQuery, s.jid, name); err != nil {
		return fmt.Errorf("delete app state version of %s: %w", name, err)
	}
	return nil
}

// PutAppStateMutationMACs stores the value MACs set at a version. The collection's version must
// have been stored first (whatsmeow does so). A repeated index MAC keeps its last value.
func (s *deviceStore) PutAppStateMutationMACs(ctx context.Context, name string, version uint64, mutations []store.AppStateMutationMAC) error {
	if len(mutations) == 0 {
		return nil
	}
	// One statement must not touch a row twice (PostgreSQL refuses), so keep the last of duplicates.
	seen := make(map[string]int, len(mutations))
	deduped := make([]store.AppStateMutationMAC, 0, len(mutations))
	for _, m := range mutations {
		if i, ok := seen[string(m.IndexMAC)]; ok {
			deduped[i] = m
			continue
		}
		seen[string(m.IndexMAC)] = len(deduped)
		deduped = append(deduped, m)
	}
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for chunk := range slices.Chunk(deduped, batchSize) {
			args := make([]any, 0, 3+2*len(chunk))
			args = append(args, s.jid, name, int64(version))
			query := putMutationMACsPrefix
			for i, m := range chunk {
				if i > 0 {
					query += ", "
				}
				query += fmt.Sprintf("($1, $2, $3, $%d, $%d)", 4+2*i, 5+2*i)
				args = append(args, m.IndexMAC, m.ValueMAC)
			}
			if _, err := s.db.Exec(ctx, query+putMutationMACsSuffix, args...); err != nil {
				return fmt.Errorf("put %d mutation MACs of %s v%d: %w", len(chunk), name, version, err)
			}
		}
		return nil
	})
}

// DeleteAppStateMutationMACs removes the given index MACs at every version.
func (s *deviceStore) DeleteAppStateMutationMACs(ctx context.Context, name string, indexMACs [][]byte) error {
	if len(indexMACs) == 0 {
		return nil
	}
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for chunk := range slices.Chunk(indexMACs, batchSize) {
			args := make([]any, 0, 2+len(chunk))
			args = append(args, s.jid, name)
			for _, mac := range chunk {
				args = append(args, mac)
			}
			query := `DELETE FROM whatsmeow_app_state_mutation_macs WHERE our_jid=$1 AND name=$2 AND index_mac IN (` +
				placeholders(3, len(chunk)) + `)`
			if _, err := s.db.Exec(ctx, query, args...); err != nil {
				return fmt.Errorf("delete %d mutation MACs of %s: %w", len(chunk), name, err)
			}
		}
		return nil
	})
}

// GetAppStateMutationMAC returns the value MAC of the newest version of an index MAC, or nil.
func (s *deviceStore) GetAppStateMutationMAC(ctx context.Context, name string, indexMAC []byte) ([]byte, error) {
	var mac []byte
	err := s.db.QueryRow(ctx, getMutationMACQuery, s.jid, name, indexMAC).Scan(&mac)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get mutation MAC in %s: %w", name, err)
	}
	return mac, nil
}
