package watestserver

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// The server's state can be kept in a JSON file (Options.StateFile), so that a restarted server
// still knows its root key, CA, accounts, paired devices, prekeys, groups, queued stanzas, media
// and app state: saved devices log in again as if WhatsApp had never gone away.

type stateFile struct {
	Version     int                    `json:"version"`
	RootPriv    []byte                 `json:"root_priv"`
	StaticPriv  []byte                 `json:"static_priv"`
	CACert      []byte                 `json:"ca_cert"`
	CAKey       []byte                 `json:"ca_key"`
	MediaAuth   string                 `json:"media_auth"`
	NextLID     uint64                 `json:"next_lid"`
	IDCounter   uint64                 `json:"id_counter"`
	Accounts    []stateAccount         `json:"accounts"`
	Groups      []stateGroup           `json:"groups"`
	Media       map[string]stateMedia  `json:"media"`
	Avatars     map[string]stateAvatar `json:"avatars"`
	InviteCodes map[string]string      `json:"invite_codes"`
	Calls       []CallRecord           `json:"calls"`
}

type stateAccount struct {
	Phone      string              `json:"phone"`
	LID        string              `json:"lid"`
	PushName   string              `json:"push_name"`
	Status     string              `json:"status"`
	KeyPriv    []byte              `json:"key_priv"`
	NextDevice uint16              `json:"next_device"`
	AppState   map[string][][]byte `json:"app_state"`
	Devices    []stateDevice       `json:"devices"`
}

type stateDevice struct {
	ID           uint16        `json:"id"`
	Noise        []byte        `json:"noise"`
	Identity     []byte        `json:"identity"`
	RegID        uint32        `json:"reg_id"`
	SignedPreKey statePreKey   `json:"signed_pre_key"`
	PreKeys      []statePreKey `json:"pre_keys"`
	Platform     string        `json:"platform"`
	Queue        []stateQueued `json:"queue"`
}

type statePreKey struct {
	ID  uint32 `json:"id"`
	Pub []byte `json:"pub"`
	Sig []byte `json:"sig,omitempty"`
}

func toStatePreKey(pk preKey) statePreKey { return statePreKey{ID: pk.id, Pub: pk.pub, Sig: pk.sig} }

func (pk statePreKey) preKey() preKey { return preKey{id: pk.ID, pub: pk.Pub, sig: pk.Sig} }

type stateQueued struct {
	Node  []byte `json:"node"`
	Class string `json:"class"`
	ID    string `json:"id"`
	Type  string `json:"type"`
	From  string `json:"from"`
}

type stateGroup struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	NameSetAt int64             `json:"name_set_at"`
	NameSetBy string            `json:"name_set_by"`
	Topic     string            `json:"topic"`
	TopicID   string            `json:"topic_id"`
	TopicAt   int64             `json:"topic_at"`
	TopicBy   string            `json:"topic_by"`
	Creator   string            `json:"creator"`
	Created   int64             `json:"created"`
	Locked    bool              `json:"locked"`
	Announce  bool              `json:"announce"`
	Ephemeral uint32            `json:"ephemeral"`
	Invite    string            `json:"invite"`
	Members   map[string]string `json:"members"`
}

type stateMedia struct {
	Data    []byte `json:"data"`
	MMSType string `json:"mms_type"`
}

type stateAvatar struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Hash []byte `json:"hash"`
}

const stateVersion = 1

// SaveState writes the server's state to path (atomically, mode 0600).
func (srv *Server) SaveState(path string) error {
	caKey, err := x509.MarshalPKCS8PrivateKey(srv.ca.caKey)
	if err != nil {
		return fmt.Errorf("save state: encode CA key: %w", err)
	}
	srv.mu.Lock()
	st := stateFile{
		Version: stateVersion, RootPriv: srv.root.Priv[:], StaticPriv: srv.static.Priv[:],
		CACert: srv.ca.caDER, CAKey: caKey, MediaAuth: srv.mediaAuth, NextLID: srv.nextLID,
		IDCounter: srv.idCounter, Media: map[string]stateMedia{}, Avatars: map[string]stateAvatar{},
		InviteCodes: srv.inviteCodes, Calls: srv.calls,
	}
	for _, acct := range srv.accounts {
		sa := stateAccount{Phone: acct.phone, LID: acct.lid, PushName: acct.pushName, Status: acct.status,
			KeyPriv: acct.key.Priv[:], NextDevice: acct.nextDevice, AppState: acct.appState}
		for _, dev := range acct.sortedDevices() {
			sd := stateDevice{ID: dev.id, Noise: dev.noise[:], Identity: dev.identity[:], RegID: dev.regID,
				SignedPreKey: toStatePreKey(dev.signedPreKey), Platform: dev.platform}
			for _, pk := range dev.preKeys {
				sd.PreKeys = append(sd.PreKeys, toStatePreKey(pk))
			}
			for _, q := range dev.queue {
				data, err := waBinary.Marshal(q.node)
				if err != nil {
					srv.mu.Unlock()
					return fmt.Errorf("save state: encode a queued %s: %w", q.class, err)
				}
				sd.Queue = append(sd.Queue, stateQueued{Node: data, Class: q.class, ID: q.id, Type: q.typ, From: q.from.String()})
			}
			sa.Devices = append(sa.Devices, sd)
		}
		st.Accounts = append(st.Accounts, sa)
	}
	for _, g := range srv.groups {
		st.Groups = append(st.Groups, stateGroup{ID: g.id, Name: g.name, NameSetAt: g.nameSetAt, NameSetBy: g.nameSetBy,
			Topic: g.topic, TopicID: g.topicID, TopicAt: g.topicAt, TopicBy: g.topicBy, Creator: g.creator, Created: g.created,
			Locked: g.locked, Announce: g.announce, Ephemeral: g.ephemeral, Invite: g.invite, Members: g.members})
	}
	for k, m := range srv.media {
		st.Media[k] = stateMedia{Data: m.data, MMSType: m.mmsType}
	}
	for k, a := range srv.avatars {
		st.Avatars[k] = stateAvatar{ID: a.id, Key: a.key, Hash: a.hash}
	}
	data, err := json.Marshal(&st)
	srv.mu.Unlock()
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err = os.WriteFile(tmp, data, 0o600); err != nil {
		return fmt.Errorf("save state to %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("save state to %s: %w", path, err)
	}
	return nil
}

// loadState reads a state file into a server that is not started yet. A missing file is not an
// error: the server starts empty.
func (srv *Server) loadState(path string) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("read state file: %w", err)
	}
	var st stateFile
	if err = json.Unmarshal(data, &st); err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	if st.Version != stateVersion {
		return fmt.Errorf("state file %s has version %d, this server reads version %d: delete it to start afresh", path, st.Version, stateVersion)
	}
	if len(st.RootPriv) != 32 || len(st.StaticPriv) != 32 {
		return fmt.Errorf("state file %s: root and static keys must be 32 bytes", path)
	}
	srv.root = keys.NewKeyPairFromPrivateKey([32]byte(st.RootPriv))
	srv.static = keys.NewKeyPairFromPrivateKey([32]byte(st.StaticPriv))
	parsedKey, err := x509.ParsePKCS8PrivateKey(st.CAKey)
	if err != nil {
		return fmt.Errorf("state file %s: CA key: %w", path, err)
	}
	caKey, ok := parsedKey.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("state file %s: CA key is a %T, want ECDSA", path, parsedKey)
	}
	ca, err := caFromParts(caKey, st.CACert)
	if err != nil {
		return fmt.Errorf("state file %s: %w", path, err)
	}
	srv.ca = ca
	srv.mediaAuth, srv.nextLID, srv.idCounter = st.MediaAuth, st.NextLID, st.IDCounter
	if st.InviteCodes != nil {
		srv.inviteCodes = st.InviteCodes
	}
	srv.calls = st.Calls
	for _, sa := range st.Accounts {
		if len(sa.KeyPriv) != 32 {
			return fmt.Errorf("state file %s: account %s: key must be 32 bytes", path, sa.Phone)
		}
		acct := &account{phone: sa.Phone, lid: sa.LID, pushName: sa.PushName, status: sa.Status,
			key: keys.NewKeyPairFromPrivateKey([32]byte(sa.KeyPriv)), devices: map[uint16]*device{},
			nextDevice: sa.NextDevice, appState: sa.AppState, subscribers: map[string]struct{}{}}
		for _, sd := range sa.Devices {
			if len(sd.Noise) != 32 || len(sd.Identity) != 32 {
				return fmt.Errorf("state file %s: device %s:%d: keys must be 32 bytes", path, sa.Phone, sd.ID)
			}
			dev := &device{acct: acct, id: sd.ID, noise: [32]byte(sd.Noise), identity: [32]byte(sd.Identity),
				regID: sd.RegID, signedPreKey: sd.SignedPreKey.preKey(), platform: sd.Platform}
			for _, pk := range sd.PreKeys {
				dev.preKeys = append(dev.preKeys, pk.preKey())
			}
			for _, q := range sd.Queue {
				if len(q.Node) < 1 {
					continue
				}
				node, err := waBinary.Unmarshal(q.Node[1:])
				if err != nil {
					return fmt.Errorf("state file %s: queued %s %s: %w", path, q.Class, q.ID, err)
				}
				from, _ := types.ParseJID(q.From)
				dev.queue = append(dev.queue, &queued{node: *node, class: q.Class, id: q.ID, typ: q.Type, from: from})
			}
			acct.devices[dev.id] = dev
		}
		srv.accounts[acct.phone] = acct
		srv.accountsLID[acct.lid] = acct
	}
	for _, sg := range st.Groups {
		srv.groups[sg.ID] = &group{id: sg.ID, name: sg.Name, nameSetAt: sg.NameSetAt, nameSetBy: sg.NameSetBy,
			topic: sg.Topic, topicID: sg.TopicID, topicAt: sg.TopicAt, topicBy: sg.TopicBy, creator: sg.Creator,
			created: sg.Created, locked: sg.Locked, announce: sg.Announce, ephemeral: sg.Ephemeral,
			invite: sg.Invite, members: sg.Members}
	}
	for k, m := range st.Media {
		srv.media[k] = &mediaBlob{data: m.Data, mmsType: m.MMSType}
	}
	if len(st.Avatars) > 0 {
		srv.avatars = map[string]*avatar{}
		for k, a := range st.Avatars {
			srv.avatars[k] = &avatar{id: a.ID, key: a.Key, hash: a.Hash}
		}
	}
	return nil
}
