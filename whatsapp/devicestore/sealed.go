package devicestore

import (
	"context"
	"fmt"

	"github.com/passerelle-bridge/passerelle/secrets"
)

// SecretScope is the name the device store's encryption state is recorded under in the
// passerelle_secrets table.
const SecretScope = "whatsmeow"

// The columns holding secret material, sealed by package secrets: whoever has them can act as
// the bridge's WhatsApp device or read its messages. Identity keys of contacts, signatures,
// app state hashes, contacts and the LID map are public or derived and stay readable.
var (
	colNoiseKey        = secrets.Column{Table: "whatsmeow_device", Column: "noise_key", Key: []string{"jid"}}
	colIdentityKey     = secrets.Column{Table: "whatsmeow_device", Column: "identity_key", Key: []string{"jid"}}
	colSignedPreKey    = secrets.Column{Table: "whatsmeow_device", Column: "signed_pre_key", Key: []string{"jid"}}
	colAdvKey          = secrets.Column{Table: "whatsmeow_device", Column: "adv_key", Key: []string{"jid"}}
	colSession         = secrets.Column{Table: "whatsmeow_sessions", Column: "session", Key: []string{"our_jid", "their_id"}}
	colPreKey          = secrets.Column{Table: "whatsmeow_pre_keys", Column: "key", Key: []string{"our_jid", "key_id"}}
	colSenderKey       = secrets.Column{Table: "whatsmeow_sender_keys", Column: "sender_key", Key: []string{"our_jid", "chat_id", "sender_id"}}
	colAppStateSyncKey = secrets.Column{Table: "whatsmeow_app_state_sync_keys", Column: "key_data", Key: []string{"our_jid", "key_id"}}
	colMessageSecret   = secrets.Column{Table: "whatsmeow_message_secrets", Column: "key", Key: []string{"our_jid", "chat_jid", "sender_jid", "message_id"}}
	colPrivacyToken    = secrets.Column{Table: "whatsmeow_privacy_tokens", Column: "token", Key: []string{"our_jid", "their_jid"}}
	colBufferedEvent   = secrets.Column{Table: "whatsmeow_event_buffer", Column: "plaintext", Key: []string{"our_jid", "ciphertext_hash"}}
	// Sent messages are kept for retry receipts; they carry message contents and message
	// secrets.
	colSentMessage = secrets.Column{Table: "whatsmeow_sent_message", Column: "message", Key: []string{"our_jid", "chat_jid", "message_id"}}
	// Events acknowledged to WhatsApp but not yet handed to Matrix (journal.go).
	colInbound = secrets.Column{Table: "passerelle_wa_inbound", Column: "payload", Key: []string{"our_jid", "seq"}}
)

// SealedColumns lists every column the device store seals, for secrets.Activate and
// secrets.Rotate (passerelle rotate-secrets).
func SealedColumns() []secrets.Column {
	return []secrets.Column{
		colNoiseKey, colIdentityKey, colSignedPreKey, colAdvKey,
		colSession, colPreKey, colSenderKey, colAppStateSyncKey,
		colMessageSecret, colPrivacyToken, colBufferedEvent, colSentMessage, colInbound,
	}
}

// Option changes how New sets up a container.
type Option func(*Container)

// WithKeyring encrypts the device store's secrets with ring (see package secrets). A nil ring
// runs unencrypted, which Upgrade refuses once the database is encrypted. Without this option
// the keyring comes from the environment (secrets.FromEnv) when Upgrade runs.
func WithKeyring(ring *secrets.Keyring) Option {
	return func(c *Container) {
		c.ring = ring
		c.ringSet = true
	}
}

// activateSecrets loads the keyring if none was given and checks or sets up encryption.
func (c *Container) activateSecrets(ctx context.Context) error {
	ring := c.ring
	if !c.ringSet {
		var err error
		if ring, err = secrets.FromEnv(); err != nil {
			return fmt.Errorf("load secret key for the whatsmeow device store: %w", err)
		}
	}
	sealer, err := secrets.Activate(ctx, c.db, SecretScope, ring, SealedColumns(), c.log)
	if err != nil {
		return err
	}
	c.sealer.Store(sealer)
	return nil
}

// Encrypted tells whether the device store's secrets are sealed (false before Upgrade).
func (c *Container) Encrypted() bool {
	return c.sealer.Load().Encrypted()
}

func (c *Container) seal(ref secrets.Ref, plaintext []byte) ([]byte, error) {
	return c.sealer.Load().Seal(ref, plaintext)
}

func (c *Container) open(ref secrets.Ref, stored []byte) ([]byte, error) {
	return c.sealer.Load().Open(ref, stored)
}
