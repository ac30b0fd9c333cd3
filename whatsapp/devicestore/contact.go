package devicestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
)

// Contact names: the address book entry (first/full name, from app state), the push name and
// business name people set themselves, and the redacted phone shown for LID group members.
// Contacts are per user, so JIDs are stored without device.

const (
	contactNamesPrefix = `INSERT INTO whatsmeow_contacts (our_jid, their_jid, first_name, full_name) VALUES `
	contactNamesSuffix = ` ON CONFLICT (our_jid, their_jid) DO UPDATE SET first_name=excluded.first_name, full_name=excluded.full_name`
	redactedPrefix     = `INSERT INTO whatsmeow_contacts (our_jid, their_jid, redacted_phone) VALUES `
	redactedSuffix     = ` ON CONFLICT (our_jid, their_jid) DO UPDATE SET redacted_phone=excluded.redacted_phone`
	// The name upserts only touch the row when the name differs, so the affected row count
	// says whether it changed, atomically even for concurrent writers.
	putPushNameQuery = `
		INSERT INTO whatsmeow_contacts (our_jid, their_jid, push_name) VALUES ($1, $2, $3)
		ON CONFLICT (our_jid, their_jid) DO UPDATE SET push_name=excluded.push_name
		WHERE COALESCE(whatsmeow_contacts.push_name, '') <> excluded.push_name
	`
	putBusinessNameQuery = `
		INSERT INTO whatsmeow_contacts (our_jid, their_jid, business_name) VALUES ($1, $2, $3)
		ON CONFLICT (our_jid, their_jid) DO UPDATE SET business_name=excluded.business_name
		WHERE COALESCE(whatsmeow_contacts.business_name, '') <> excluded.business_name
	`
	contactColumns     = `first_name, full_name, push_name, business_name, redacted_phone`
	getContactQuery    = `SELECT ` + contactColumns + ` FROM whatsmeow_contacts WHERE our_jid=$1 AND their_jid=$2`
	getAllContactQuery = `SELECT their_jid, ` + contactColumns + ` FROM whatsmeow_contacts WHERE our_jid=$1`
	getPushNameQuery   = `SELECT push_name FROM whatsmeow_contacts WHERE our_jid=$1 AND their_jid=$2`
	getBusinessQuery   = `SELECT business_name FROM whatsmeow_contacts WHERE our_jid=$1 AND their_jid=$2`
)

// putNameIfChanged stores a push or business name and reports whether it changed and what it
// was before. An empty name for an unknown contact is no change.
func (s *deviceStore) putNameIfChanged(ctx context.Context, what, getQuery, putQuery string, user types.JID, name string, field func(types.ContactInfo) string) (bool, string, error) {
	jid := user.ToNonAD().String()
	if cached, ok, _ := s.c.contacts.get(contactKey{s.jid, jid}); ok && field(cached) == name {
		return false, "", nil
	}
	var previous sql.NullString
	err := s.db.QueryRow(ctx, getQuery, s.jid, jid).Scan(&previous)
	if errors.Is(err, sql.ErrNoRows) && name == "" {
		return false, "", nil
	} else if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return false, "", fmt.Errorf("get %s of %s: %w", what, jid, err)
	}
	if previous.String == name {
		return false, "", nil
	}
	res, err := s.db.Exec(ctx, putQuery, s.jid, jid, name)
	s.c.contacts.forget(s.jid, jid)
	if err != nil {
		return false, "", fmt.Errorf("put %s of %s: %w", what, jid, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, "", fmt.Errorf("put %s of %s: rows affected: %w", what, jid, err)
	} else if n == 0 {
		// Someone else stored this very name in the meantime and reported the change.
		return false, "", nil
	}
	return true, previous.String, nil
}

// PutPushName stores the name a user set for themselves; it returns true and the previous name
// when the name changed (whatsmeow then emits a PushName event).
func (s *deviceStore) PutPushName(ctx context.Context, user types.JID, pushName string) (bool, string, error) {
	return s.putNameIfChanged(ctx, "push name", getPushNameQuery, putPushNameQuery, user, pushName,
		func(c types.ContactInfo) string { return c.PushName })
}

// PutBusinessName stores a business's verified name, reporting a change like PutPushName.
func (s *deviceStore) PutBusinessName(ctx context.Context, user types.JID, businessName string) (bool, string, error) {
	return s.putNameIfChanged(ctx, "business name", getBusinessQuery, putBusinessNameQuery, user, businessName,
		func(c types.ContactInfo) string { return c.BusinessName })
}

// PutContactName stores the address book entry. whatsmeow passes the first name before the
// full name (the interface's parameter names are the other way round).
func (s *deviceStore) PutContactName(ctx context.Context, user types.JID, firstName, fullName string) error {
	query := contactNamesPrefix + `($1, $2, $3, $4)` + contactNamesSuffix
	_, err := s.db.Exec(ctx, query, s.jid, user.ToNonAD().String(), firstName, fullName)
	s.c.contacts.forget(s.jid, user.ToNonAD().String())
	if err != nil {
		return fmt.Errorf("put contact name of %s: %w", user, err)
	}
	return nil
}

// dedupeByJID keeps the last entry of each JID (after dropping the device part), in order of
// first appearance.
func dedupeByJID[T any](items []T, jidOf func(*T) *types.JID) []T {
	index := make(map[types.JID]int, len(items))
	out := make([]T, 0, len(items))
	for _, item := range items {
		jid := jidOf(&item)
		*jid = jid.ToNonAD()
		if i, ok := index[*jid]; ok {
			out[i] = item
			continue
		}
		index[*jid] = len(out)
		out = append(out, item)
	}
	return out
}

// PutAllContactNames stores a whole address book sync atomically. Push and business names are
// kept; duplicates keep the last entry.
func (s *deviceStore) PutAllContactNames(ctx context.Context, contacts []store.ContactEntry) error {
	if len(contacts) == 0 {
		return nil
	}
	contacts = dedupeByJID(contacts, func(c *store.ContactEntry) *types.JID { return &c.JID })
	defer s.c.contacts.forget(s.jid)
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for chunk := range slices.Chunk(contacts, batchSize) {
			args := make([]any, 0, 1+3*len(chunk))
			args = append(args, s.jid)
			query := contactNamesPrefix
			for i, c := range chunk {
				if i > 0 {
					query += ", "
				}
				query += fmt.Sprintf("($1, $%d, $%d, $%d)", 2+3*i, 3+3*i, 4+3*i)
				args = append(args, c.JID.String(), c.FirstName, c.FullName)
			}
			if _, err := s.db.Exec(ctx, query+contactNamesSuffix, args...); err != nil {
				return fmt.Errorf("put %d contact names: %w", len(chunk), err)
			}
		}
		return nil
	})
}

// PutManyRedactedPhones stores the redacted phone numbers of LID users seen in groups.
func (s *deviceStore) PutManyRedactedPhones(ctx context.Context, entries []store.RedactedPhoneEntry) error {
	if len(entries) == 0 {
		return nil
	}
	entries = dedupeByJID(entries, func(e *store.RedactedPhoneEntry) *types.JID { return &e.JID })
	defer s.c.contacts.forget(s.jid)
	return s.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		for chunk := range slices.Chunk(entries, batchSize) {
			args := make([]any, 0, 1+2*len(chunk))
			args = append(args, s.jid)
			query := redactedPrefix
			for i, e := range chunk {
				if i > 0 {
					query += ", "
				}
				query += fmt.Sprintf("($1, $%d, $%d)", 2+2*i, 3+2*i)
				args = append(args, e.JID.String(), e.RedactedPhone)
			}
			if _, err := s.db.Exec(ctx, query+redactedSuffix, args...); err != nil {
				return fmt.Errorf("put %d redacted phones: %w", len(chunk), err)
			}
		}
		return nil
	})
}

func scanContactInfo(row interface{ Scan(...any) error }, jid *types.JID) (types.ContactInfo, error) {
	var first, full, push, business, redacted sql.NullString
	var err error
	if jid != nil {
		err = row.Scan(jid, &first, &full, &push, &business, &redacted)
	} else {
		err = row.Scan(&first, &full, &push, &business, &redacted)
	}
	if err != nil {
		return types.ContactInfo{}, err
	}
	return types.ContactInfo{
		Found:         true,
		FirstName:     first.String,
		FullName:      full.String,
		PushName:      push.String,
		BusinessName:  business.String,
		RedactedPhone: redacted.String,
	}, nil
}

// GetContact returns what is known of a user; Found is false when nothing is.
func (s *deviceStore) GetContact(ctx context.Context, user types.JID) (types.ContactInfo, error) {
	key := contactKey{s.jid, user.ToNonAD().String()}
	cached, ok, gen := s.c.contacts.get(key)
	if ok {
		return cached, nil
	}
	info, err := scanContactInfo(s.db.QueryRow(ctx, getContactQuery, s.jid, key.their), nil)
	if errors.Is(err, sql.ErrNoRows) {
		s.c.contacts.put(key, types.ContactInfo{}, gen)
		return types.ContactInfo{}, nil
	} else if err != nil {
		return types.ContactInfo{}, fmt.Errorf("get contact %s: %w", user, err)
	}
	s.c.contacts.put(key, info, gen)
	return info, nil
}

// GetAllContacts returns every known contact of the device.
func (s *deviceStore) GetAllContacts(ctx context.Context) (map[types.JID]types.ContactInfo, error) {
	rows, err := s.db.Query(ctx, getAllContactQuery, s.jid)
	if err != nil {
		return nil, fmt.Errorf("get all contacts: %w", err)
	}
	defer rows.Close()
	out := make(map[types.JID]types.ContactInfo)
	for rows.Next() {
		var jid types.JID
		info, err := scanContactInfo(rows, &jid)
		if err != nil {
			return nil, fmt.Errorf("scan contact: %w", err)
		}
		out[jid] = info
	}
	if err = rows.Err(); err != nil {
		return nil, fmt.Errorf("read contacts: %w", err)
	}
	return out, nil
}
