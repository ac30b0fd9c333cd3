package devicestore

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waAdv"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/passerelle-bridge/passerelle/secrets"
)

// DefaultSentMessageMaxAge is how long sent messages are kept for answering retry receipts.
// Phones ask for a retry within minutes or, after being offline, days; a week covers that.
const DefaultSentMessageMaxAge = 7 * 24 * time.Hour

// Container holds every whatsmeow device of the bridge in one database. It implements
// store.DeviceContainer and hands out devices whose stores all point at that database.
type Container struct {
	db  *dbutil.Database
	log zerolog.Logger

	lids *lidMap

	// ring is the keyring given with WithKeyring (ringSet), else loaded from the environment
	// by Upgrade; sealer is what Upgrade activated.
	ring    *secrets.Keyring
	ringSet bool
	sealer  atomic.Pointer[secrets.Sealer]

	// SentMessageMaxAge is how old a sent message may get before it is pruned. Zero means
	// DefaultSentMessageMaxAge. Set it before the container is used.
	SentMessageMaxAge time.Duration
	lastSentPrune     atomic.Int64

	// cryptoLocks holds a *sync.Mutex per device JID: see CryptoLock.
	cryptoLocks sync.Map

	// contacts is the in-memory copy of contact rows (contactcache.go).
	contacts contactCache

	// inbound hands out inbound journal sequence numbers (journal.go).
	inbound inboundSeqs
}

var _ store.DeviceContainer = (*Container)(nil)

// Errors returned by the container for devices that cannot be saved.
var (
	ErrDeviceIDMustBeSet = errors.New("device JID must be set before the device can be stored (pair it first)")
	ErrDeviceIncomplete  = errors.New("device is missing key material")
	ErrDeviceKeyMismatch = errors.New("a device with this JID is already stored with a different identity key")
)

// CryptoLock returns the lock that orders the Signal session changes of device jid: every
// decryption holds it (DoDecryptionTxn), and the connector holds it around its sends.
//
// whatsmeow serialises its own sends but decrypts on its receive path without any lock, and
// both read a session, advance it and write it back. A message from a contact decrypted while
// a message to that contact is encrypted made one of the two writes overwrite the other: the
// bridge then reused a chain counter and the contact's phone dropped the next message as
// "old counter" (seen in e2e's TestSoakWhatsApp without any fault).
func (c *Container) CryptoLock(jid types.JID) *sync.Mutex {
	return c.cryptoLock(jid.String())
}

func (c *Container) cryptoLock(jid string) *sync.Mutex {
	l, _ := c.cryptoLocks.LoadOrStore(jid, &sync.Mutex{})
	return l.(*sync.Mutex)
}

// New wraps the bridge database. The whatsmeow tables live in it with their own version table;
// call Upgrade before use. Secrets are encrypted with the keyring from WithKeyring, or by
// default with the one configured in the environment (see package secrets).
func New(db *dbutil.Database, log zerolog.Logger, opts ...Option) *Container {
	log = log.With().Str("component", "whatsmeow_store").Logger()
	child := db.Child(VersionTable, upgradeTable, dbutil.ZeroLogger(log))
	c := &Container{
		db:   child,
		log:  log,
		lids: &lidMap{db: child},
	}
	for _, opt := range opts {
		opt(c)
	}
	return c
}

// Upgrade creates or migrates the whatsmeow_ tables, then sets up secret encryption
// (secrets.Activate): it encrypts existing plaintext secrets once a key is configured, and
// fails when the database is encrypted but the needed keys are not configured. On SQLite it
// refuses to run without foreign keys, because logout relies on ON DELETE CASCADE to remove a
// device's data.
func (c *Container) Upgrade(ctx context.Context) error {
	if c.db.Dialect == dbutil.SQLite {
		var enabled bool
		if err := c.db.QueryRow(ctx, "PRAGMA foreign_keys").Scan(&enabled); err != nil {
			return fmt.Errorf("check sqlite foreign_keys pragma: %w", err)
		} else if !enabled {
			return errors.New("sqlite foreign keys are off: use database type sqlite3-fk-wal")
		}
	}
	if err := c.db.Upgrade(ctx); err != nil {
		return fmt.Errorf("upgrade whatsmeow device store: %w", err)
	}
	if err := c.activateSecrets(ctx); err != nil {
		return fmt.Errorf("whatsmeow device store: %w", err)
	}
	return nil
}

// LIDs is the global LID↔phone-number map shared by all devices (the same object every
// device's Store.LIDs points to).
func (c *Container) LIDs() store.LIDStore {
	return c.lids
}

// NewDevice makes a fresh unpaired device with new keys. Nothing is stored until whatsmeow
// saves it after a successful pairing.
func (c *Container) NewDevice() *store.Device {
	identity := keys.NewKeyPair()
	var regID [4]byte
	if _, err := rand.Read(regID[:]); err != nil {
		panic(fmt.Errorf("read random registration ID: %w", err))
	}
	advKey := make([]byte, 32)
	if _, err := rand.Read(advKey); err != nil {
		panic(fmt.Errorf("read random adv secret: %w", err))
	}
	return &store.Device{
		Log:            waLog.Zerolog(c.log),
		Container:      c,
		NoiseKey:       keys.NewKeyPair(),
		IdentityKey:    identity,
		SignedPreKey:   identity.CreateSignedPreKey(1),
		RegistrationID: binary.BigEndian.Uint32(regID[:]),
		AdvSecretKey:   advKey,
	}
}

const deviceColumns = `jid, lid, facebook_uuid, registration_id, noise_key, identity_key,
	signed_pre_key, signed_pre_key_id, signed_pre_key_sig,
	adv_key, adv_details, adv_account_sig, adv_account_sig_key, adv_device_sig,
	platform, business_name, push_name, lid_migration_ts`

const (
	getAllDevicesQuery = `SELECT ` + deviceColumns + ` FROM whatsmeow_device ORDER BY jid`
	getDeviceQuery     = `SELECT ` + deviceColumns + ` FROM whatsmeow_device WHERE jid=$1`
	insertDeviceQuery  = `
		INSERT INTO whatsmeow_device (` + deviceColumns + `)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
		ON CONFLICT (jid) DO NOTHING
	`
	getIdentityKeyQuery = `SELECT identity_key FROM whatsmeow_device WHERE jid=$1`
	updateDeviceQuery   = `
		UPDATE whatsmeow_device SET lid=$2, facebook_uuid=$3, platform=$4, business_name=$5, push_name=$6, lid_migration_ts=$7
		WHERE jid=$1
	`
	deleteDeviceQuery = `DELETE FROM whatsmeow_device WHERE jid=$1`
)

// openKey opens a sealed 32-byte private key of a device.
func (c *Container) openKey(col secrets.Column, jid string, stored []byte) ([32]byte, error) {
	key, err := c.open(col.Ref(jid), stored)
	if err != nil {
		return [32]byte{}, err
	}
	if len(key) != 32 {
		return [32]byte{}, fmt.Errorf("device %s: stored %s is %d bytes, want 32", jid, col.Column, len(key))
	}
	return [32]byte(key), nil
}

func (c *Container) scanDevice(row dbutil.Scannable) (*store.Device, error) {
	var (
		dev                                  store.Device
		jidStr                               string
		lid                                  types.JID
		fbUUID                               sql.NullString
		noise, identity, spk, spkSig, advKey []byte
		spkID                                uint32
		account                              waAdv.ADVSignedDeviceIdentity
	)
	err := row.Scan(&jidStr, &lid, &fbUUID, &dev.RegistrationID, &noise, &identity,
		&spk, &spkID, &spkSig,
		&advKey, &account.Details, &account.AccountSignature, &account.AccountSignatureKey, &account.DeviceSignature,
		&dev.Platform, &dev.BusinessName, &dev.PushName, &dev.LIDMigrationTimestamp)
	if err != nil {
		return nil, err
	}
	jid, err := types.ParseJID(jidStr)
	if err != nil {
		return nil, fmt.Errorf("device %q: parse JID: %w", jidStr, err)
	}
	if len(spkSig) != 64 {
		return nil, fmt.Errorf("device %s: stored signed prekey signature has the wrong length", jid)
	}
	noiseKey, err := c.openKey(colNoiseKey, jidStr, noise)
	if err != nil {
		return nil, err
	}
	identityKey, err := c.openKey(colIdentityKey, jidStr, identity)
	if err != nil {
		return nil, err
	}
	signedPreKey, err := c.openKey(colSignedPreKey, jidStr, spk)
	if err != nil {
		return nil, err
	}
	if dev.AdvSecretKey, err = c.open(colAdvKey.Ref(jidStr), advKey); err != nil {
		return nil, err
	}
	if fbUUID.Valid && fbUUID.String != "" {
		if dev.FacebookUUID, err = uuid.Parse(fbUUID.String); err != nil {
			return nil, fmt.Errorf("device %s: parse facebook_uuid: %w", jid, err)
		}
	}
	dev.ID = &jid
	dev.LID = lid
	dev.NoiseKey = keys.NewKeyPairFromPrivateKey(noiseKey)
	dev.IdentityKey = keys.NewKeyPairFromPrivateKey(identityKey)
	dev.SignedPreKey = &keys.PreKey{
		KeyPair:   *keys.NewKeyPairFromPrivateKey(signedPreKey),
		KeyID:     spkID,
		Signature: (*[64]byte)(spkSig),
	}
	dev.Account = &account
	c.attachStores(&dev)
	return &dev, nil
}

// GetAllDevices returns every stored (paired) device, ordered by JID.
func (c *Container) GetAllDevices(ctx context.Context) ([]*store.Device, error) {
	rows, err := c.db.Query(ctx, getAllDevicesQuery)
	devices, err := dbutil.ConvertRowFn[*store.Device](c.scanDevice).NewRowIter(rows, err).AsList()
	if err != nil {
		return nil, fmt.Errorf("load whatsmeow devices: %w", err)
	}
	return devices, nil
}

// GetFirstDevice returns the first stored device, or a new unsaved one when there is none.
// Only for single-account tools; the bridge looks devices up by JID.
func (c *Container) GetFirstDevice(ctx context.Context) (*store.Device, error) {
	devices, err := c.GetAllDevices(ctx)
	if err != nil {
		return nil, err
	}
	if len(devices) == 0 {
		return c.NewDevice(), nil
	}
	return devices[0], nil
}

// GetDevice returns the device stored under the given device JID (with its device number, as
// in Device.ID), or nil without error when there is none.
func (c *Container) GetDevice(ctx context.Context, jid types.JID) (*store.Device, error) {
	dev, err := c.scanDevice(c.db.QueryRow(ctx, getDeviceQuery, jid.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("load whatsmeow device %s: %w", jid, err)
	}
	return dev, nil
}

// PutDevice stores the device (whatsmeow calls it through Device.Save after pairing and when
// the push name or LID changes). Key material is written once and never replaced: saving a
// different identity under an existing JID fails with ErrDeviceKeyMismatch.
func (c *Container) PutDevice(ctx context.Context, dev *store.Device) error {
	if err := checkDeviceComplete(dev); err != nil {
		return err
	}
	jid := dev.ID.String()
	var fbUUID sql.NullString
	if dev.FacebookUUID != uuid.Nil {
		fbUUID = sql.NullString{String: dev.FacebookUUID.String(), Valid: true}
	}
	var sealed [4][]byte
	for i, secret := range []struct {
		col   secrets.Column
		value []byte
	}{
		{colNoiseKey, dev.NoiseKey.Priv[:]},
		{colIdentityKey, dev.IdentityKey.Priv[:]},
		{colSignedPreKey, dev.SignedPreKey.Priv[:]},
		{colAdvKey, dev.AdvSecretKey},
	} {
		var err error
		if sealed[i], err = c.seal(secret.col.Ref(jid), secret.value); err != nil {
			return fmt.Errorf("save whatsmeow device %s: %w", jid, err)
		}
	}
	err := c.db.DoTxn(ctx, nil, func(ctx context.Context) error {
		res, err := c.db.Exec(ctx, insertDeviceQuery,
			jid, dev.LID, fbUUID, dev.RegistrationID, sealed[0], sealed[1],
			sealed[2], dev.SignedPreKey.KeyID, dev.SignedPreKey.Signature[:],
			sealed[3], dev.Account.Details, dev.Account.AccountSignature, dev.Account.AccountSignatureKey, dev.Account.DeviceSignature,
			dev.Platform, dev.BusinessName, dev.PushName, dev.LIDMigrationTimestamp)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("rows affected: %w", err)
		} else if n == 1 {
			return nil
		}
		// Already stored: only the names and IDs may change, and only for the same identity.
		// Sealed values cannot be compared in SQL (fresh nonce each time), so compare in Go.
		var stored []byte
		if err = c.db.QueryRow(ctx, getIdentityKeyQuery, jid).Scan(&stored); err != nil {
			return fmt.Errorf("read stored identity: %w", err)
		}
		identity, err := c.openKey(colIdentityKey, jid, stored)
		if err != nil {
			return err
		}
		if subtle.ConstantTimeCompare(identity[:], dev.IdentityKey.Priv[:]) != 1 {
			return ErrDeviceKeyMismatch
		}
		_, err = c.db.Exec(ctx, updateDeviceQuery, jid, dev.LID, fbUUID, dev.Platform, dev.BusinessName, dev.PushName, dev.LIDMigrationTimestamp)
		return err
	})
	if err != nil {
		return fmt.Errorf("save whatsmeow device %s: %w", jid, err)
	}
	if s, ok := dev.Identities.(*deviceStore); !ok || !dev.Initialized || dev.Container != c || s.c != c || s.jid != jid {
		c.attachStores(dev)
	}
	return nil
}

func checkDeviceComplete(dev *store.Device) error {
	switch {
	case dev == nil:
		return fmt.Errorf("%w: device is nil", ErrDeviceIncomplete)
	case dev.ID == nil:
		return ErrDeviceIDMustBeSet
	case dev.Account == nil:
		return fmt.Errorf("device %s: %w: Account (the signed device identity from pairing) is nil", dev.ID, ErrDeviceIncomplete)
	case dev.NoiseKey == nil || dev.NoiseKey.Priv == nil:
		return fmt.Errorf("device %s: %w: NoiseKey is nil", dev.ID, ErrDeviceIncomplete)
	case dev.IdentityKey == nil || dev.IdentityKey.Priv == nil:
		return fmt.Errorf("device %s: %w: IdentityKey is nil", dev.ID, ErrDeviceIncomplete)
	case dev.SignedPreKey == nil || dev.SignedPreKey.Priv == nil || dev.SignedPreKey.Signature == nil:
		return fmt.Errorf("device %s: %w: SignedPreKey or its signature is nil", dev.ID, ErrDeviceIncomplete)
	}
	return nil
}

// DeleteDevice removes the device and, through ON DELETE CASCADE, all of its keys, sessions,
// app state, contacts, buffered events and sent messages (whatsmeow calls it on logout).
// Deleting a device that is not stored is not an error.
func (c *Container) DeleteDevice(ctx context.Context, dev *store.Device) error {
	if dev == nil || dev.ID == nil {
		return ErrDeviceIDMustBeSet
	}
	if _, err := c.db.Exec(ctx, deleteDeviceQuery, dev.ID.String()); err != nil {
		return fmt.Errorf("delete whatsmeow device %s: %w", dev.ID, err)
	}
	c.contacts.forget(dev.ID.String())
	return nil
}

// attachStores points all of a device's stores at this container.
func (c *Container) attachStores(dev *store.Device) {
	s := newDeviceStore(c, *dev.ID)
	if dev.Log == nil {
		dev.Log = waLog.Zerolog(c.log)
	}
	dev.Identities = s
	dev.Sessions = s
	dev.PreKeys = s
	dev.SenderKeys = s
	dev.AppStateKeys = s
	dev.AppState = s
	dev.Contacts = s
	dev.ChatSettings = s
	dev.MsgSecrets = s
	dev.PrivacyTokens = s
	dev.EventBuffer = s
	dev.LIDs = c.lids
	dev.Container = c
	dev.Initialized = true
}
