// Package memstore keeps a whatsmeow device's Signal and account state in memory.
//
// It exists so that the WhatsApp test server's "phones" and its own tests can run real whatsmeow
// clients without a database. State lives as long as the Store value: reconnecting a client that
// uses the same *store.Device is a login of a saved device. It is not meant for production use;
// the bridge stores devices with whatsapp/devicestore.
package memstore

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// Store implements every whatsmeow store interface for one device, in memory.
//
// Methods for chat settings, redacted phones and privacy tokens come from store.NoopStore (they
// store nothing).
type Store struct {
	store.NoopStore

	mu          sync.Mutex
	identities  map[string][32]byte
	sessions    map[string][]byte
	preKeys     map[uint32]*keys.PreKey
	uploadedTo  uint32
	nextPreKey  uint32
	senderKeys  map[string][]byte
	contacts    map[types.JID]types.ContactInfo
	secrets     map[string][]byte
	buffered    map[[32]byte]*store.BufferedEvent
	lidToPN     map[string]string
	pnToLID     map[string]string
	appKeys     map[string]store.AppStateSyncKey
	appVersions map[string]appVersion
	appMACs     map[string][]byte
	saved       bool
	deleted     bool
	saveCount   int
	deviceState *store.Device
}

var _ store.AllStores = (*Store)(nil)
var _ store.DeviceContainer = (*Store)(nil)

// NewDevice makes a fresh, unpaired device whose stores are a new in-memory Store.
func NewDevice() (*store.Device, *Store) {
	s := &Store{
		identities:  map[string][32]byte{},
		sessions:    map[string][]byte{},
		preKeys:     map[uint32]*keys.PreKey{},
		nextPreKey:  1,
		senderKeys:  map[string][]byte{},
		contacts:    map[types.JID]types.ContactInfo{},
		secrets:     map[string][]byte{},
		buffered:    map[[32]byte]*store.BufferedEvent{},
		lidToPN:     map[string]string{},
		pnToLID:     map[string]string{},
		appKeys:     map[string]store.AppStateSyncKey{},
		appVersions: map[string]appVersion{},
		appMACs:     map[string][]byte{},
	}
	identity := keys.NewKeyPair()
	var regID [4]byte
	_, _ = rand.Read(regID[:])
	adv := make([]byte, 32)
	_, _ = rand.Read(adv)
	dev := &store.Device{
		NoiseKey:       keys.NewKeyPair(),
		IdentityKey:    identity,
		SignedPreKey:   identity.CreateSignedPreKey(1),
		RegistrationID: binary.BigEndian.Uint32(regID[:]) & 0x3fff,
		AdvSecretKey:   adv,
		Initialized:    true,
		Identities:     s,
		Sessions:       s,
		PreKeys:        s,
		SenderKeys:     s,
		AppStateKeys:   s,
		AppState:       s,
		Contacts:       s,
		ChatSettings:   s,
		MsgSecrets:     s,
		PrivacyTokens:  s,
		EventBuffer:    s,
		LIDs:           s,
		Container:      s,
	}
	s.deviceState = dev
	return dev, s
}

// Saved reports whether whatsmeow saved the device (it does so when pairing succeeds) and has not
// deleted it since (it deletes it when the server logs the device out).
func (s *Store) Saved() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.saved && !s.deleted
}

// PutDevice records that the device was saved.
func (s *Store) PutDevice(_ context.Context, dev *store.Device) error {
	if dev.Account == nil {
		return fmt.Errorf("put device %v: account identity is missing", dev.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.saved = true
	s.deleted = false
	s.saveCount++
	return nil
}

// DeleteDevice records that the device was logged out; its keys are forgotten.
func (s *Store) DeleteDevice(_ context.Context, _ *store.Device) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = true
	s.sessions = map[string][]byte{}
	s.identities = map[string][32]byte{}
	return nil
}

// PutIdentity stores a remote identity key.
func (s *Store) PutIdentity(_ context.Context, address string, key [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.identities[address] = key
	return nil
}

// userOfAddress returns the phone or LID user of a Signal address ("user[_agent]:device").
func userOfAddress(address string) string {
	name, _, _ := strings.Cut(address, ":")
	user, _, _ := strings.Cut(name, "_")
	return user
}

// DeleteAllIdentities forgets every identity of a user.
func (s *Store) DeleteAllIdentities(_ context.Context, phone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr := range s.identities {
		if userOfAddress(addr) == phone {
			delete(s.identities, addr)
		}
	}
	return nil
}

// DeleteIdentity forgets one identity.
func (s *Store) DeleteIdentity(_ context.Context, address string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.identities, address)
	return nil
}

// IsTrustedIdentity trusts on first use and then only the same key.
func (s *Store) IsTrustedIdentity(_ context.Context, address string, key [32]byte) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	existing, ok := s.identities[address]
	return !ok || existing == key, nil
}

// GetSession returns a stored Signal session or nil.
func (s *Store) GetSession(_ context.Context, address string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sessions[address]), nil
}

// HasSession reports whether a session exists.
func (s *Store) HasSession(_ context.Context, address string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.sessions[address]
	return ok, nil
}

// GetManySessions returns the stored sessions of several addresses (nil for missing ones).
func (s *Store) GetManySessions(_ context.Context, addresses []string) (map[string][]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string][]byte, len(addresses))
	for _, addr := range addresses {
		out[addr] = slices.Clone(s.sessions[addr])
	}
	return out, nil
}

// PutSession stores a session.
func (s *Store) PutSession(_ context.Context, address string, session []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[address] = slices.Clone(session)
	return nil
}

// PutManySessions stores several sessions.
func (s *Store) PutManySessions(_ context.Context, sessions map[string][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr, sess := range sessions {
		s.sessions[addr] = slices.Clone(sess)
	}
	return nil
}

// DeleteAllSessions forgets every session with a user.
func (s *Store) DeleteAllSessions(_ context.Context, phone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for addr := range s.sessions {
		if userOfAddress(addr) == phone {
			delete(s.sessions, addr)
		}
	}
	return nil
}

// DeleteSession forgets one session.
func (s *Store) DeleteSession(_ context.Context, address string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.sessions, address)
	return nil
}

// MigratePNToLID moves sessions and identities kept under a phone-number address to the LID address.
func (s *Store) MigratePNToLID(_ context.Context, pn, lid types.JID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	pnPrefix := pn.SignalAddressUser()
	lidPrefix := lid.SignalAddressUser()
	for addr, sess := range s.sessions {
		user, rest, ok := cutAddressUser(addr)
		if ok && user == pnPrefix {
			newAddr := lidPrefix + rest
			if _, exists := s.sessions[newAddr]; !exists {
				s.sessions[newAddr] = sess
			}
			delete(s.sessions, addr)
		}
	}
	for addr, key := range s.identities {
		user, rest, ok := cutAddressUser(addr)
		if ok && user == pnPrefix {
			newAddr := lidPrefix + rest
			if _, exists := s.identities[newAddr]; !exists {
				s.identities[newAddr] = key
			}
			delete(s.identities, addr)
		}
	}
	return nil
}

// cutAddressUser splits a Signal address "name:device" into the name and ":device".
func cutAddressUser(addr string) (name, rest string, ok bool) {
	idx := strings.LastIndexByte(addr, ':')
	if idx < 0 {
		return "", "", false
	}
	return addr[:idx], addr[idx:], true
}

// GetOrGenPreKeys returns count prekeys that have not been uploaded, generating new ones as needed.
func (s *Store) GetOrGenPreKeys(_ context.Context, count uint32) ([]*keys.PreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*keys.PreKey
	for id := s.uploadedTo + 1; id < s.nextPreKey && uint32(len(out)) < count; id++ {
		if key, ok := s.preKeys[id]; ok {
			out = append(out, key)
		}
	}
	for uint32(len(out)) < count {
		key := keys.NewPreKey(s.nextPreKey)
		s.preKeys[key.KeyID] = key
		s.nextPreKey++
		out = append(out, key)
	}
	return out, nil
}

// GenOnePreKey generates one prekey and counts it as uploaded (whatsmeow sends it inline).
func (s *Store) GenOnePreKey(_ context.Context) (*keys.PreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := keys.NewPreKey(s.nextPreKey)
	s.preKeys[key.KeyID] = key
	s.nextPreKey++
	s.uploadedTo = key.KeyID
	return key, nil
}

// GetPreKey returns a prekey by ID, or nil when it was used up.
func (s *Store) GetPreKey(_ context.Context, id uint32) (*keys.PreKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.preKeys[id], nil
}

// RemovePreKey forgets a used prekey.
func (s *Store) RemovePreKey(_ context.Context, id uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.preKeys, id)
	return nil
}

// MarkPreKeysAsUploaded records the highest uploaded prekey ID.
func (s *Store) MarkPreKeysAsUploaded(_ context.Context, upToID uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if upToID > s.uploadedTo {
		s.uploadedTo = upToID
	}
	return nil
}

// UploadedPreKeyCount counts uploaded prekeys not yet used.
func (s *Store) UploadedPreKeyCount(_ context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id := range s.preKeys {
		if id <= s.uploadedTo {
			n++
		}
	}
	return n, nil
}

// PutSenderKey stores a group sender key.
func (s *Store) PutSenderKey(_ context.Context, group, user string, session []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.senderKeys[group+"\x00"+user] = slices.Clone(session)
	return nil
}

// GetSenderKey returns a group sender key or nil.
func (s *Store) GetSenderKey(_ context.Context, group, user string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.senderKeys[group+"\x00"+user]), nil
}

// PutPushName stores a contact's push name and reports whether it changed.
func (s *Store) PutPushName(_ context.Context, user types.JID, pushName string) (bool, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.contacts[user]
	prev := info.PushName
	if prev == pushName {
		return false, prev, nil
	}
	info.Found = true
	info.PushName = pushName
	s.contacts[user] = info
	return true, prev, nil
}

// PutBusinessName stores a contact's business name and reports whether it changed.
func (s *Store) PutBusinessName(_ context.Context, user types.JID, name string) (bool, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.contacts[user]
	prev := info.BusinessName
	if prev == name {
		return false, prev, nil
	}
	info.Found = true
	info.BusinessName = name
	s.contacts[user] = info
	return true, prev, nil
}

// PutContactName stores a contact's address-book name.
func (s *Store) PutContactName(_ context.Context, user types.JID, fullName, firstName string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	info := s.contacts[user]
	info.Found = true
	info.FullName = fullName
	info.FirstName = firstName
	s.contacts[user] = info
	return nil
}

// PutAllContactNames stores several address-book names.
func (s *Store) PutAllContactNames(ctx context.Context, contacts []store.ContactEntry) error {
	for _, c := range contacts {
		if err := s.PutContactName(ctx, c.JID, c.FullName, c.FirstName); err != nil {
			return err
		}
	}
	return nil
}

// GetContact returns what is known of a contact.
func (s *Store) GetContact(_ context.Context, user types.JID) (types.ContactInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.contacts[user], nil
}

// GetAllContacts returns every known contact.
func (s *Store) GetAllContacts(_ context.Context) (map[types.JID]types.ContactInfo, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[types.JID]types.ContactInfo, len(s.contacts))
	for k, v := range s.contacts {
		out[k] = v
	}
	return out, nil
}

func secretKey(chat, sender types.JID, id types.MessageID) string {
	return chat.ToNonAD().String() + "\x00" + sender.ToNonAD().String() + "\x00" + id
}

// PutMessageSecrets stores message secrets (used by polls and reactions to encrypted messages).
func (s *Store) PutMessageSecrets(ctx context.Context, inserts []store.MessageSecretInsert) error {
	for _, in := range inserts {
		if err := s.PutMessageSecret(ctx, in.Chat, in.Sender, in.ID, in.Secret); err != nil {
			return err
		}
	}
	return nil
}

// PutMessageSecret stores one message secret.
func (s *Store) PutMessageSecret(_ context.Context, chat, sender types.JID, id types.MessageID, secret []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets[secretKey(chat, sender, id)] = slices.Clone(secret)
	return nil
}

// GetMessageSecret returns a stored message secret.
func (s *Store) GetMessageSecret(_ context.Context, chat, sender types.JID, id types.MessageID) ([]byte, types.JID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.secrets[secretKey(chat, sender, id)]), sender, nil
}

// GetBufferedEvent returns a decrypted event kept for redelivery of the same ciphertext.
func (s *Store) GetBufferedEvent(_ context.Context, hash [32]byte) (*store.BufferedEvent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	evt := s.buffered[hash]
	if evt == nil {
		return nil, nil
	}
	cp := *evt
	return &cp, nil
}

// PutBufferedEvent keeps a decrypted event.
func (s *Store) PutBufferedEvent(_ context.Context, hash [32]byte, plaintext []byte, serverTS time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buffered[hash] = &store.BufferedEvent{Plaintext: slices.Clone(plaintext), InsertTime: time.Now(), ServerTime: serverTS}
	return nil
}

// DoDecryptionTxn runs fn; memory needs no transaction.
func (s *Store) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	return fn(ctx)
}

// ClearBufferedEventPlaintext drops the plaintext of a handled event but remembers its hash.
func (s *Store) ClearBufferedEventPlaintext(_ context.Context, hash [32]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if evt, ok := s.buffered[hash]; ok {
		evt.Plaintext = nil
	}
	return nil
}

// DeleteOldBufferedHashes forgets buffered events older than two weeks.
func (s *Store) DeleteOldBufferedHashes(_ context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for hash, evt := range s.buffered {
		if time.Since(evt.InsertTime) > 14*24*time.Hour {
			delete(s.buffered, hash)
		}
	}
	return nil
}

// PutManyLIDMappings stores LID ↔ phone number mappings.
func (s *Store) PutManyLIDMappings(ctx context.Context, mappings []store.LIDMapping) error {
	for _, m := range mappings {
		if err := s.PutLIDMapping(ctx, m.LID, m.PN); err != nil {
			return err
		}
	}
	return nil
}

// PutLIDMapping stores one mapping.
func (s *Store) PutLIDMapping(_ context.Context, lid, pn types.JID) error {
	if lid.Server != types.HiddenUserServer || pn.Server != types.DefaultUserServer {
		return fmt.Errorf("put LID mapping %s ↔ %s: want a @lid and a @s.whatsapp.net JID", lid, pn)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lidToPN[lid.User] = pn.User
	s.pnToLID[pn.User] = lid.User
	return nil
}

// GetPNForLID returns the phone-number JID of a LID (same device), or an empty JID.
func (s *Store) GetPNForLID(_ context.Context, lid types.JID) (types.JID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.lidToPN[lid.User]
	if !ok {
		return types.EmptyJID, nil
	}
	return types.JID{User: user, Device: lid.Device, Server: types.DefaultUserServer}, nil
}

// GetLIDForPN returns the LID of a phone-number JID (same device), or an empty JID.
func (s *Store) GetLIDForPN(_ context.Context, pn types.JID) (types.JID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.pnToLID[pn.User]
	if !ok {
		return types.EmptyJID, nil
	}
	return types.JID{User: user, Device: pn.Device, Server: types.HiddenUserServer}, nil
}

// GetManyLIDsForPNs maps several phone-number JIDs to LIDs; unknown ones are left out.
func (s *Store) GetManyLIDsForPNs(_ context.Context, pns []types.JID) (map[types.JID]types.JID, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[types.JID]types.JID, len(pns))
	for _, pn := range pns {
		if user, ok := s.pnToLID[pn.User]; ok {
			out[pn] = types.JID{User: user, Device: pn.Device, Server: types.HiddenUserServer}
		}
	}
	return out, nil
}

type appVersion struct {
	version uint64
	hash    [128]byte
}

// PutAppStateSyncKey stores an app state key shared by the phone.
func (s *Store) PutAppStateSyncKey(_ context.Context, id []byte, key store.AppStateSyncKey) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appKeys[string(id)] = key
	return nil
}

// GetAppStateSyncKey returns an app state key or nil.
func (s *Store) GetAppStateSyncKey(_ context.Context, id []byte) (*store.AppStateSyncKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key, ok := s.appKeys[string(id)]
	if !ok {
		return nil, nil
	}
	return &key, nil
}

// GetLatestAppStateSyncKeyID returns the ID of the newest app state key, or nil.
func (s *Store) GetLatestAppStateSyncKeyID(_ context.Context) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latest []byte
	var latestTS int64
	for id, key := range s.appKeys {
		if latest == nil || key.Timestamp > latestTS {
			latest, latestTS = []byte(id), key.Timestamp
		}
	}
	return latest, nil
}

// PutAppStateVersion records a collection's version and hash.
func (s *Store) PutAppStateVersion(_ context.Context, name string, version uint64, hash [128]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.appVersions[name] = appVersion{version, hash}
	return nil
}

// GetAppStateVersion returns a collection's version and hash (zero when never synced).
func (s *Store) GetAppStateVersion(_ context.Context, name string) (uint64, [128]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.appVersions[name]
	return v.version, v.hash, nil
}

// DeleteAppStateVersion forgets a collection and its MACs.
func (s *Store) DeleteAppStateVersion(_ context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.appVersions, name)
	for k := range s.appMACs {
		if strings.HasPrefix(k, name+"\x00") {
			delete(s.appMACs, k)
		}
	}
	return nil
}

// PutAppStateMutationMACs stores the value MACs of index MACs.
func (s *Store) PutAppStateMutationMACs(_ context.Context, name string, _ uint64, mutations []store.AppStateMutationMAC) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range mutations {
		s.appMACs[name+"\x00"+string(m.IndexMAC)] = slices.Clone(m.ValueMAC)
	}
	return nil
}

// DeleteAppStateMutationMACs removes index MACs.
func (s *Store) DeleteAppStateMutationMACs(_ context.Context, name string, indexMACs [][]byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range indexMACs {
		delete(s.appMACs, name+"\x00"+string(m))
	}
	return nil
}

// GetAppStateMutationMAC returns the value MAC of an index MAC, or nil.
func (s *Store) GetAppStateMutationMAC(_ context.Context, name string, indexMAC []byte) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.appMACs[name+"\x00"+string(indexMAC)]), nil
}
