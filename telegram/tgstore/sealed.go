package tgstore

import (
	"context"
	"fmt"
	"strconv"

	"github.com/passerelle-bridge/passerelle/secrets"
)

// SecretScope is the name the Telegram store's encryption state is recorded under in the
// passerelle_secrets table.
const SecretScope = "telegram"

// colSession holds gotd's session blob, which carries the MTProto auth key: whoever has it is
// logged in as the account. Update positions and access hashes are not secret on their own
// (an access hash is useless without the auth key) and stay readable.
var colSession = secrets.Column{Table: "telegram_session", Column: "data", Key: []string{"user_id"}}

// SealedColumns lists every column the Telegram store seals, for secrets.Activate and
// secrets.Rotate (passerelle rotate-secrets).
func SealedColumns() []secrets.Column { return []secrets.Column{colSession} }

// Option changes how New sets up a store.
type Option func(*Store)

// WithKeyring encrypts the store's secrets with ring (see package secrets). A nil ring runs
// unencrypted, which Upgrade refuses once the database is encrypted. Without this option the
// keyring comes from the environment (secrets.FromEnv) when Upgrade runs.
func WithKeyring(ring *secrets.Keyring) Option {
	return func(s *Store) {
		s.ring = ring
		s.ringSet = true
	}
}

// activateSecrets loads the keyring if none was given and checks or sets up encryption.
func (s *Store) activateSecrets(ctx context.Context) error {
	ring := s.ring
	if !s.ringSet {
		var err error
		if ring, err = secrets.FromEnv(); err != nil {
			return fmt.Errorf("load secret key for the Telegram store: %w", err)
		}
	}
	sealer, err := secrets.Activate(ctx, s.db, SecretScope, ring, SealedColumns(), s.log)
	if err != nil {
		return err
	}
	s.sealer.Store(sealer)
	return nil
}

// Encrypted tells whether the store's secrets are sealed (false before Upgrade).
func (s *Store) Encrypted() bool { return s.sealer.Load().Encrypted() }

func sessionRef(userID int64) secrets.Ref {
	return colSession.Ref(strconv.FormatInt(userID, 10))
}
