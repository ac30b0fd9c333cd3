package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"go.mau.fi/whatsmeow/util/keys"
)

// One-time prekeys. IDs grow from 1; keys handed out by GetOrGenPreKeys stay "not uploaded"
// until whatsmeow confirms the upload with MarkPreKeysAsUploaded, so a failed upload re-sends
// the same keys instead of generating new ones.

// maxPreKeyID is the exclusive upper bound of Signal's 24-bit prekey IDs.
const maxPreKeyID = 1 << 24

const (
	getLastPreKeyIDQuery      = `SELECT COALESCE(MAX(key_id), 0) FROM whatsmeow_pre_keys WHERE our_jid=$1`
	insertPreKeyPrefix        = `INSERT INTO whatsmeow_pre_keys (our_jid, key_id, key, uploaded) VALUES `
	getUnuploadedPreKeysQuery = `SELECT key_id, key FROM whatsmeow_pre_keys WHERE our_jid=$1 AND uploaded=false ORDER BY key_id LIMIT $2`
	getPreKeyQuery            = `SELECT key_id, key FROM whatsmeow_pre_keys WHERE our_jid=$1 AND key_id=$2`
	deletePreKeyQuery         = `DELETE FROM whatsmeow_pre_keys WHERE our_jid=$1 AND key_id=$2`
	markPreKeysUploadedQuery  = `UPDATE whatsmeow_pre_keys SET uploaded=true WHERE our_jid=$1 AND key_id<=$2`
	countUploadedPreKeysQuery = `SELECT COUNT(*) FROM whatsmeow_pre_keys WHERE our_jid=$1 AND uploaded=true`
)

func (s *deviceStore) scanPreKey(row interface{ Scan(...any) error }) (*keys.PreKey, error) {
	var id uint32
	var sealed []byte
	if err := row.Scan(&id, &sealed); err != nil {
		return nil, err
	}
	priv, err := s.c.open(colPreKey.Ref(s.jid, strconv.FormatUint(uint64(id), 10)), sealed)
	if err != nil {
		return nil, err
	}
	if len(priv) != 32 {
		return nil, fmt.Errorf("prekey %d: stored key is %d bytes, want 32", id, len(priv))
	}
	return &keys.PreKey{KeyPair: *keys.NewKeyPairFromPrivateKey([32]byte(priv)), KeyID: id}, nil
}

func (s *deviceStore) nextPreKeyID(ctx context.Context) (uint32, error) {
	var last uint32
	if err := s.db.QueryRow(ctx, getLastPreKeyIDQuery, s.jid).Scan(&last); err != nil {
		return 0, fmt.Errorf("get last prekey ID: %w", err)
	}
	return last + 1, nil
}

// insertNewPreKeys generates count keys with IDs from firstID and stores them.
func (s *deviceStore) insertNewPreKeys(ctx context.Context, firstID, count uint32, uploaded bool) ([]*keys.PreKey, error) {
	if uint64(firstID)+uint64(count) > maxPreKeyID {
		return nil, fmt.Errorf("prekey IDs exhausted: next ID %d + %d keys exceeds the 24-bit limit", firstID, count)
	}
	out := make([]*keys.PreKey, count)
	for i := range out {
		out[i] = keys.NewPreKey(firstID + uint32(i))
	}
	for start := 0; start < len(out); start += batchSize {
		chunk := out[start:min(start+batchSize, len(out))]
		args := make([]any, 0, 2+2*len(chunk))
		args = append(args, s.jid, uploaded)
		query := insertPreKeyPrefix
		for i, key := range chunk {
			if i > 0 {
				query += ", "
			}
			query += fmt.Sprintf("($1, $%d, $%d, $2)", 3+2*i, 4+2*i)
			sealed, err := s.c.seal(colPreKey.Ref(s.jid, strconv.FormatUint(uint64(key.KeyID), 10)), key.Priv[:])
			if err != nil {
				return nil, fmt.Errorf("insert prekey %d: %w", key.KeyID, err)
			}
			args = append(args, key.KeyID, sealed)
		}
		if _, err := s.db.Exec(ctx, query, args...); err != nil {
			return nil, fmt.Errorf("insert %d prekeys: %w", len(chunk), err)
		}
	}
	return out, nil
}

// GenOnePreKey makes one new prekey, stored as already uploaded: whatsmeow sends it directly
// inside a retry receipt rather than through the upload request.
func (s *deviceStore) GenOnePreKey(ctx context.Context) (*keys.PreKey, error) {
	var key *keys.PreKey
	err := s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		if err := s.lockDevice(ctx); err != nil {
			return err
		}
		next, err := s.nextPreKeyID(ctx)
		if err != nil {
			return err
		}
		generated, err := s.insertNewPreKeys(ctx, next, 1, true)
		if err != nil {
			return err
		}
		key = generated[0]
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("generate prekey: %w", err)
	}
	return key, nil
}

// GetOrGenPreKeys returns count prekeys for upload: the not yet uploaded ones first (lowest IDs
// first), topped up with newly generated keys. The keys stay "not uploaded" until
// MarkPreKeysAsUploaded.
func (s *deviceStore) GetOrGenPreKeys(ctx context.Context, count uint32) ([]*keys.PreKey, error) {
	var result []*keys.PreKey
	err := s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		if err := s.lockDevice(ctx); err != nil {
			return err
		}
		result = make([]*keys.PreKey, 0, count)
		rows, err := s.db.Query(ctx, getUnuploadedPreKeysQuery, s.jid, count)
		if err != nil {
			return fmt.Errorf("query unuploaded prekeys: %w", err)
		}
		for rows.Next() {
			key, err := s.scanPreKey(rows)
			if err != nil {
				_ = rows.Close()
				return err
			}
			result = append(result, key)
		}
		if err = rows.Close(); err != nil {
			return fmt.Errorf("read unuploaded prekeys: %w", err)
		} else if err = rows.Err(); err != nil {
			return fmt.Errorf("read unuploaded prekeys: %w", err)
		}
		missing := count - uint32(len(result))
		if missing == 0 {
			return nil
		}
		next, err := s.nextPreKeyID(ctx)
		if err != nil {
			return err
		}
		generated, err := s.insertNewPreKeys(ctx, next, missing, false)
		if err != nil {
			return err
		}
		result = append(result, generated...)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("get or generate %d prekeys: %w", count, err)
	}
	return result, nil
}

// GetPreKey returns the prekey with the ID, or nil without error when it does not exist (it
// was used up): libsignal then reports the missing prekey itself.
func (s *deviceStore) GetPreKey(ctx context.Context, id uint32) (*keys.PreKey, error) {
	key, err := s.scanPreKey(s.db.QueryRow(ctx, getPreKeyQuery, s.jid, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("get prekey %d: %w", id, err)
	}
	return key, nil
}

// RemovePreKey deletes a used prekey; removing a missing one is not an error.
func (s *deviceStore) RemovePreKey(ctx context.Context, id uint32) error {
	if _, err := s.db.Exec(ctx, deletePreKeyQuery, s.jid, id); err != nil {
		return fmt.Errorf("remove prekey %d: %w", id, err)
	}
	return nil
}

// MarkPreKeysAsUploaded marks every prekey with an ID up to and including upToID as uploaded.
func (s *deviceStore) MarkPreKeysAsUploaded(ctx context.Context, upToID uint32) error {
	if _, err := s.db.Exec(ctx, markPreKeysUploadedQuery, s.jid, upToID); err != nil {
		return fmt.Errorf("mark prekeys up to %d as uploaded: %w", upToID, err)
	}
	return nil
}

// UploadedPreKeyCount counts the stored prekeys that the server has.
func (s *deviceStore) UploadedPreKeyCount(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRow(ctx, countUploadedPreKeysQuery, s.jid).Scan(&n); err != nil {
		return 0, fmt.Errorf("count uploaded prekeys: %w", err)
	}
	return n, nil
}
