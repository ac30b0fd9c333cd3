package delivery

import (
	"context"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/event"
)

// bridgeCrypto is the bridge's end-to-bridge encryption with the remote message's reference
// (RemoteRefKey) added outside the ciphertext of every event that names one (Encrypt, in
// remoteref.go), and with decryption (Decrypt) and its bot's to-device sync (patientSyncStore)
// waiting out a database outage instead of dropping the event or stopping the bridge.
type bridgeCrypto struct {
	matrix.Crypto
	key []byte
	log zerolog.Logger
	// in is told of events that could not be decrypted because the database was away, so the
	// homeserver sends them again (bridgev2 reports decryption failures past Bridge.Matrix).
	in *Inbound
	// decryptPauses and decryptWait bound how long Decrypt waits out a database outage.
	decryptPauses []time.Duration
	decryptWait   time.Duration
}

// DecryptWait bounds how long the decryption of a Matrix event waits for an unreachable database
// (the Megolm session is read from it) before the event is handed back to the homeserver.
var DecryptWait = 30 * time.Second

// Decrypt decrypts as mautrix does, waiting out a database outage: mautrix reads the Megolm
// session from the database and takes its absence for an undecryptable event, which bridgev2
// reports and drops (seen in the encrypted soak: every message sent while PostgreSQL restarted
// was lost). An event still undecryptable for that reason after DecryptWait is marked failed for
// a transient reason, so the transaction is refused and the homeserver sends it again.
func (c *bridgeCrypto) Decrypt(ctx context.Context, evt *event.Event) (*event.Event, error) {
	var dec *event.Event
	pauses := c.decryptPauses
	if pauses == nil {
		pauses = outagePauses
	}
	limit := c.decryptWait
	if limit == 0 {
		limit = DecryptWait
	}
	err := waitOutage(ctx, c.log, "decrypt "+evt.ID.String(), dbOutage, pauses, limit, func() (err error) {
		dec, err = c.Crypto.Decrypt(ctx, evt)
		return err
	})
	if err != nil && Transient(err) && c.in != nil {
		c.in.failTransient(evt.ID, err)
	}
	return dec, err
}

// Init initialises mautrix's encryption, then makes its sync wait out database outages.
func (c *bridgeCrypto) Init(ctx context.Context) error {
	if err := c.Crypto.Init(ctx); err != nil {
		return err
	}
	if cli := c.Crypto.Client(); cli != nil && cli.Store != nil {
		if _, done := cli.Store.(*patientSyncStore); !done {
			cli.Store = &patientSyncStore{SyncStore: cli.Store, log: c.log}
		}
	}
	return nil
}

// installCrypto wraps the connector's encryption (when it has any): encrypted sends carry their
// reference, and decryption and the bot's to-device sync wait out database outages.
func installCrypto(mx *matrix.Connector, in *Inbound) {
	if mx.Crypto == nil {
		return
	}
	if _, done := mx.Crypto.(*bridgeCrypto); done {
		return
	}
	mx.Crypto = &bridgeCrypto{Crypto: mx.Crypto, key: refKey(mx.Config.Encryption.PickleKey),
		log: mx.Log.With().Str("component", "crypto").Logger(), in: in}
}
