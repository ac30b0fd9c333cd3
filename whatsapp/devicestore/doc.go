// Package devicestore keeps whatsmeow's device state (keys, Signal sessions, app state, contacts,
// the decrypted-event buffer, the LID map…) in the bridge's own database, next to bridgev2's
// tables.
//
// whatsmeow's own store/sqlstore does not build against the go.mau.fi/util version mautrix needs,
// so Passerelle carries its own implementation of the interfaces in go.mau.fi/whatsmeow/store
// (DeviceContainer, every per-device store of AllSessionSpecificStores, and the global LIDStore).
// All tables are prefixed whatsmeow_ and versioned in their own table (whatsmeow_version), so
// they coexist with bridgev2's schema in one PostgreSQL or SQLite (sqlite3-fk-wal) database.
// The schema is Passerelle's own: a database written by upstream sqlstore is refused by Upgrade
// (unknown version) rather than misread.
//
// Secrets at rest: every column holding key material or message contents (the device's noise,
// identity and signed prekey private keys and adv secret, Signal sessions, one-time prekeys,
// sender keys, app state sync keys, message secrets, privacy tokens, buffered plaintexts and
// sent messages; see SealedColumns) is sealed with package secrets, bound to its row. The key
// comes from the environment (PASSERELLE_SECRET_KEY / PASSERELLE_SECRET_KEY_FILE, see package
// secrets) unless WithKeyring gives one. Upgrade encrypts existing plaintext rows once a key is
// configured and refuses to start an encrypted store without its keys; without any key the
// store runs unencrypted and says so loudly in the log at every start. Sealed values cannot be
// compared or copied in SQL: PutDevice compares identities in Go and the PN→LID migration
// re-seals moved sessions and sender keys.
//
// Usage:
//
//	container := devicestore.New(bridgeDB, log) // or New(bridgeDB, log, devicestore.WithKeyring(ring))
//	if err := container.Upgrade(ctx); err != nil { ... }
//	device, err := container.GetDevice(ctx, jid) // nil when the login was never paired
//	if device == nil { device = container.NewDevice() } // saved by whatsmeow once paired
//	client := whatsmeow.NewClient(device, waLog.Zerolog(log))
//	client.EnableDecryptedEventBuffer = true
//	client.GetMessageForRetry = container.RetryMessageGetter(jid)
//	// after each successful client.SendMessage:
//	container.PutSentMessage(ctx, jid, chat, resp.ID, msg, resp.Timestamp)
//
// Logging out (whatsmeow calls Device.Delete, or call container.DeleteDevice) removes every
// row that belongs to the device. The LID map is shared by all devices and is kept.
package devicestore
