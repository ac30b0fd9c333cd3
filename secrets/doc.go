// Package secrets encrypts the session secrets Passerelle keeps in its database (WhatsApp
// device keys and Signal state, Telegram auth keys), so that a copy of the database alone —
// a backup, a dump, a stolen disk — is not enough to take over the bridged accounts.
//
// # Sealing
//
// Each secret column value is sealed with XChaCha20-Poly1305 under a 32-byte master key from
// the environment. A sealed value carries a format version and the ID of its key (a 16-hex
// digit fingerprint, never the key), so keys can be rotated: old keys stay in the keyring for
// reading until every value has been re-sealed with the new one. The additional data binds
// each value to its cell (table, column and primary key): a value copied into another row,
// column or table is refused like any other tampering. Errors (*Error) say which cell, which
// key ID, and what the operator can do.
//
// # Operator configuration
//
//	PASSERELLE_SECRET_KEY           the current key: base64 of 32 random bytes
//	                                (`passerelle rotate-secrets --generate-key`, or `openssl rand -base64 32`)
//	PASSERELLE_SECRET_KEY_FILE      instead of the above: a file with one base64 key per line,
//	                                the current key first, older keys after it (# comments allowed)
//	PASSERELLE_SECRET_KEY_OLD       older keys, comma- or space-separated, to read values not yet rotated
//	PASSERELLE_SECRET_KEY_REQUIRED  true: refuse to start without a key (recommended in production)
//
// Prefer the key file (mode 0600, owned by the bridge's user, outside the database backups)
// to the variable, which `docker inspect` and other processes of the same user can read. The
// key never appears in logs or errors; only its ID does.
//
// What happens at start-up, per store (Activate):
//   - No key, store never encrypted: the bridge starts (so a first run needs no setup) and logs
//     a loud warning at every start that secrets are stored unencrypted.
//   - Key configured, store unencrypted: every stored secret is encrypted once, in one
//     transaction, and the store is marked encrypted in the passerelle_secrets table.
//   - Store encrypted, no key: the bridge refuses to start (ErrNoKey). Plaintext is never
//     written into an encrypted store, and sealed values are never read as plaintext.
//   - Store encrypted, a key that values may still be sealed with is missing: refused
//     (ErrUnknownKey), naming the key IDs.
//
// Rotating a key: generate a new key; configure it as the current key and the old one in
// PASSERELLE_SECRET_KEY_OLD (or as the second line of the key file); restart the bridge; run
// `passerelle rotate-secrets -c config.yaml` with the same environment (it may run while the
// bridge runs, and can be interrupted and rerun); when it reports that only the current key is
// in use, remove the old key and restart. rotate-secrets refuses a key the bridge has not
// started with yet, and a store that is not encrypted yet, because a running bridge could not
// read the result; with the bridge stopped, pass --bridge-stopped.
//
// # Use from a store
//
// At start-up, after creating its tables:
//
//	ring, err := secrets.FromEnv()            // nil, nil when no key is configured
//	sealer, err := secrets.Activate(ctx, db, "telegram", ring, []secrets.Column{sessionData}, log)
//
// where each sealed column is described once:
//
//	var sessionData = secrets.Column{Table: "telegram_session", Column: "data", Key: []string{"user_id"}}
//
// On write and read, name the cell with the row's primary key values (integers in decimal):
//
//	ref := sessionData.Ref(strconv.FormatInt(userID, 10))
//	stored, err := sealer.Seal(ref, data)     // write stored instead of data
//	data, err := sealer.Open(ref, stored)     // after reading stored
//
// Seal and Open pass values through unchanged when the store runs unencrypted, so a store has
// one code path. Never compare sealed values in SQL (each sealing uses a fresh nonce), never
// copy them between rows in SQL (open and re-seal in Go instead), and keep key columns
// immutable once a sealed value is stored under them. The column list is also what
// `passerelle rotate-secrets` walks, so every sealed column must be in it.
package secrets
