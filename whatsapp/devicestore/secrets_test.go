package devicestore

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/secrets"
)

// secretSet names every secret value written by fillSecrets, so tests can look for them.
type secretSet map[string][]byte

// fillSecrets stores one value of every kind of secret for dev (plus the device's own keys)
// through the store API, as whatsmeow would, and returns them by name.
func fillSecrets(t *testing.T, c *Container, dev *store.Device) secretSet {
	t.Helper()
	set := fillV1Secrets(t, c, dev)
	set["journaled message"] = []byte("journaled: " + hex.EncodeToString(randBytes(t, 16)))
	_, err := c.AppendInbound(context.Background(), *dev.ID, set["journaled message"], time.Now())
	check(t, err)
	return set
}

// fillV1Secrets is fillSecrets for the tables of schema v1.
func fillV1Secrets(t *testing.T, c *Container, dev *store.Device) secretSet {
	t.Helper()
	ctx := context.Background()
	set := secretSet{
		"noise key":         dev.NoiseKey.Priv[:],
		"identity key":      dev.IdentityKey.Priv[:],
		"signed prekey":     dev.SignedPreKey.Priv[:],
		"adv secret":        dev.AdvSecretKey,
		"session":           randBytes(t, 300),
		"sender key":        randBytes(t, 200),
		"app state key":     randBytes(t, 32),
		"message secret":    randBytes(t, 32),
		"privacy token":     randBytes(t, 24),
		"buffered event":    randBytes(t, 120),
		"sent message text": []byte("confidential: " + hex.EncodeToString(randBytes(t, 16))),
	}
	check(t, dev.Sessions.PutSession(ctx, "33611111111:0", set["session"]))
	check(t, dev.SenderKeys.PutSenderKey(ctx, "120363000000000001@g.us", "33611111111:0", set["sender key"]))
	check(t, dev.AppStateKeys.PutAppStateSyncKey(ctx, []byte{0, 1, 2, 0xff}, store.AppStateSyncKey{
		Data: set["app state key"], Fingerprint: []byte("fp"), Timestamp: 1,
	}))
	chat, sender := mustJID(t, "33611111111@s.whatsapp.net"), mustJID(t, "33622222222@s.whatsapp.net")
	check(t, dev.MsgSecrets.PutMessageSecret(ctx, chat, sender, "3EB0SECRET", set["message secret"]))
	check(t, dev.PrivacyTokens.PutPrivacyTokens(ctx, store.PrivacyToken{User: sender, Token: set["privacy token"], Timestamp: time.Unix(1760000000, 0)}))
	check(t, dev.EventBuffer.PutBufferedEvent(ctx, [32]byte(randBytes(t, 32)), set["buffered event"], time.Unix(1760000000, 0)))
	check(t, c.PutSentMessage(ctx, *dev.ID, chat, "3EB0SENT", &waE2E.Message{Conversation: proto.String(string(set["sent message text"]))}, time.Now()))
	prekeys, err := dev.PreKeys.GetOrGenPreKeys(ctx, 3)
	check(t, err)
	for _, pk := range prekeys {
		set[fmt.Sprintf("prekey %d", pk.KeyID)] = pk.Priv[:]
	}
	return set
}

// encodings are the forms a secret could leak in: raw, hex, base64 (as zerolog and JSON
// write []byte) and Go's %v of a byte slice.
func encodings(secret []byte) map[string]string {
	return map[string]string{
		"raw":       string(secret),
		"hex":       hex.EncodeToString(secret),
		"HEX":       strings.ToUpper(hex.EncodeToString(secret)),
		"base64":    base64.StdEncoding.EncodeToString(secret),
		"base64raw": base64.RawStdEncoding.EncodeToString(secret),
		"base64url": base64.RawURLEncoding.EncodeToString(secret),
		"decimal":   strings.Trim(fmt.Sprint(secret), "[]"),
	}
}

// leaks lists which secrets appear in haystack, in which form.
func leaks(haystack []byte, set secretSet) []string {
	var found []string
	for _, name := range slices.Sorted(maps.Keys(set)) {
		for _, form := range slices.Sorted(maps.Keys(encodings(set[name]))) {
			if bytes.Contains(haystack, []byte(encodings(set[name])[form])) {
				found = append(found, name+" ("+form+")")
			}
		}
	}
	return found
}

// dumpDatabase returns every value of every row of every table (the bridge's whole database
// as an attacker with a dump would see it), one row per line.
func dumpDatabase(t *testing.T, db *dbutil.Database) ([]byte, map[string]int) {
	t.Helper()
	ctx := context.Background()
	query := "SELECT name FROM sqlite_master WHERE type='table'"
	if db.Dialect == dbutil.Postgres {
		query = "SELECT table_name FROM information_schema.tables WHERE table_schema=current_schema()"
	}
	rows, err := db.Query(ctx, query)
	check(t, err)
	var tables []string
	for rows.Next() {
		var name string
		check(t, rows.Scan(&name))
		tables = append(tables, name)
	}
	check(t, rows.Close())
	var out bytes.Buffer
	counts := map[string]int{}
	for _, table := range tables {
		rows, err := db.Query(ctx, "SELECT * FROM "+table)
		check(t, err)
		cols, err := rows.Columns()
		check(t, err)
		for rows.Next() {
			values := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range values {
				ptrs[i] = &values[i]
			}
			check(t, rows.Scan(ptrs...))
			for _, v := range values {
				fmt.Fprintf(&out, "%s\t", v)
			}
			out.WriteByte('\n')
			counts[table]++
		}
		check(t, rows.Close())
	}
	return out.Bytes(), counts
}

// TestDatabaseRevealsNoSessionSecret fills every secret store of two devices and then reads
// the whole database: none of the secrets may be found in any form. The same check on an
// unencrypted store finds them all, which shows the scan works.
func TestDatabaseRevealsNoSessionSecret(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		c := newContainer(t, db)
		first := pairedDevice(t, c, "111")
		set := fillSecrets(t, c, first)
		maps.Copy(set, prefixed("other ", fillSecrets(t, c, pairedDevice(t, c, "222"))))

		dump, counts := dumpDatabase(t, db)
		for _, table := range []string{"whatsmeow_device", "whatsmeow_sessions", "whatsmeow_pre_keys", "whatsmeow_sender_keys",
			"whatsmeow_app_state_sync_keys", "whatsmeow_message_secrets", "whatsmeow_privacy_tokens",
			"whatsmeow_event_buffer", "whatsmeow_sent_message", "passerelle_wa_inbound"} {
			if counts[table] == 0 {
				t.Errorf("table %s is empty: the scan would prove nothing", table)
			}
		}
		if found := leaks(dump, set); len(found) > 0 {
			t.Errorf("the database reveals %d secret(s): %s", len(found), strings.Join(found, ", "))
		}
		// Every value still reads back.
		dev, err := c.GetDevice(context.Background(), *first.ID)
		check(t, err)
		if dev == nil || !bytes.Equal(dev.NoiseKey.Priv[:], set["noise key"]) || !bytes.Equal(dev.AdvSecretKey, set["adv secret"]) {
			t.Fatal("device keys do not read back")
		}
	})
	t.Run("control: unencrypted store", func(t *testing.T) {
		db := dbtest.Open(t, "sqlite3-fk-wal")
		c := New(db, zerolog.Nop(), WithKeyring(nil))
		check(t, c.Upgrade(context.Background()))
		set := fillSecrets(t, c, pairedDevice(t, c, "111"))
		dump, _ := dumpDatabase(t, db)
		if found := leaks(dump, set); len(found) < len(set) {
			t.Errorf("scan of an unencrypted store found only %d of %d secrets: %v", len(found), len(set), found)
		}
	})
}

func prefixed(prefix string, set secretSet) secretSet {
	out := secretSet{}
	for k, v := range set {
		out[prefix+k] = v
	}
	return out
}

// TestTamperedOrSwappedValuesRefused changes stored values behind the store's back: each read
// fails with an error naming the table and row, instead of returning wrong key material.
func TestTamperedOrSwappedValuesRefused(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		alice, bob := pairedDevice(t, c, "111"), pairedDevice(t, c, "222")
		fillSecrets(t, c, alice)
		fillSecrets(t, c, bob)
		aliceJID, bobJID := alice.ID.String(), bob.ID.String()
		check(t, alice.Sessions.PutSession(ctx, "33699999999:0", randBytes(t, 100)))

		exec := func(query string, args ...any) {
			t.Helper()
			if _, err := db.Exec(ctx, query, args...); err != nil {
				t.Fatal(err)
			}
		}
		raw := func(query string, args ...any) []byte {
			t.Helper()
			var v []byte
			check(t, db.QueryRow(ctx, query, args...).Scan(&v))
			return v
		}
		wantRefused := func(what string, err error, want error, cell string) {
			t.Helper()
			if !errors.Is(err, want) {
				t.Errorf("%s: err = %v, want %v", what, err, want)
			} else if !strings.Contains(err.Error(), cell) {
				t.Errorf("%s: error %q does not name %s", what, err, cell)
			}
		}

		// A session moved to another contact's row.
		exec(`UPDATE whatsmeow_sessions SET session=$1 WHERE our_jid=$2 AND their_id='33611111111:0'`,
			raw(`SELECT session FROM whatsmeow_sessions WHERE our_jid=$1 AND their_id='33699999999:0'`, aliceJID), aliceJID)
		_, err := alice.Sessions.GetSession(ctx, "33611111111:0")
		wantRefused("session copied from another row", err, secrets.ErrTampered, "whatsmeow_sessions.session row ("+aliceJID+", 33611111111:0)")
		_, err = alice.Sessions.GetManySessions(ctx, []string{"33611111111:0"})
		wantRefused("same through GetManySessions", err, secrets.ErrTampered, "whatsmeow_sessions.session")

		// Identity keys swapped between the two devices: neither device loads.
		aliceID := raw(`SELECT identity_key FROM whatsmeow_device WHERE jid=$1`, aliceJID)
		bobID := raw(`SELECT identity_key FROM whatsmeow_device WHERE jid=$1`, bobJID)
		exec(`UPDATE whatsmeow_device SET identity_key=$1 WHERE jid=$2`, bobID, aliceJID)
		exec(`UPDATE whatsmeow_device SET identity_key=$1 WHERE jid=$2`, aliceID, bobJID)
		_, err = c.GetDevice(ctx, *alice.ID)
		wantRefused("identity key from another device", err, secrets.ErrTampered, "whatsmeow_device.identity_key row ("+aliceJID+")")
		_, err = c.GetAllDevices(ctx)
		wantRefused("GetAllDevices with a swapped key", err, secrets.ErrTampered, "whatsmeow_device.identity_key")
		// Putting the device again does not overwrite the evidence nor accept the wrong key.
		err = c.PutDevice(ctx, alice)
		wantRefused("PutDevice over a swapped identity", err, secrets.ErrTampered, "whatsmeow_device.identity_key")
		exec(`UPDATE whatsmeow_device SET identity_key=$1 WHERE jid=$2`, aliceID, aliceJID)
		exec(`UPDATE whatsmeow_device SET identity_key=$1 WHERE jid=$2`, bobID, bobJID)

		// The noise key copied into the identity column of the same row.
		exec(`UPDATE whatsmeow_device SET identity_key=noise_key WHERE jid=$1`, aliceJID)
		_, err = c.GetDevice(ctx, *alice.ID)
		wantRefused("value moved to another column", err, secrets.ErrTampered, "whatsmeow_device.identity_key")
		exec(`UPDATE whatsmeow_device SET identity_key=$1 WHERE jid=$2`, aliceID, aliceJID)

		// Prekeys swapped between IDs.
		pk1 := raw(`SELECT key FROM whatsmeow_pre_keys WHERE our_jid=$1 AND key_id=1`, aliceJID)
		exec(`UPDATE whatsmeow_pre_keys SET key=$1 WHERE our_jid=$2 AND key_id=2`, pk1, aliceJID)
		_, err = alice.PreKeys.GetPreKey(ctx, 2)
		wantRefused("prekey from another ID", err, secrets.ErrTampered, "whatsmeow_pre_keys.key row ("+aliceJID+", 2)")

		// One flipped bit in an app state sync key, a message secret, a privacy token.
		flip := func(table, column string) {
			t.Helper()
			v := raw(`SELECT `+column+` FROM `+table+` WHERE our_jid=$1`, bobJID)
			v[len(v)/2] ^= 0x20
			exec(`UPDATE `+table+` SET `+column+`=$1 WHERE our_jid=$2`, v, bobJID)
		}
		flip("whatsmeow_app_state_sync_keys", "key_data")
		_, err = bob.AppStateKeys.GetAppStateSyncKey(ctx, []byte{0, 1, 2, 0xff})
		wantRefused("tampered app state key", err, secrets.ErrTampered, "whatsmeow_app_state_sync_keys.key_data row ("+bobJID+", 0x000102ff)")
		flip("whatsmeow_message_secrets", "key")
		_, _, err = bob.MsgSecrets.GetMessageSecret(ctx, mustJID(t, "33611111111@s.whatsapp.net"), mustJID(t, "33622222222@s.whatsapp.net"), "3EB0SECRET")
		wantRefused("tampered message secret", err, secrets.ErrTampered, "whatsmeow_message_secrets.key")
		flip("whatsmeow_privacy_tokens", "token")
		_, err = bob.PrivacyTokens.GetPrivacyToken(ctx, mustJID(t, "33622222222@s.whatsapp.net"))
		wantRefused("tampered privacy token", err, secrets.ErrTampered, "whatsmeow_privacy_tokens.token")

		// A plaintext value slipped into the encrypted store is refused too.
		exec(`UPDATE whatsmeow_sender_keys SET sender_key=$1 WHERE our_jid=$2`, []byte("plaintext sender key"), bobJID)
		_, err = bob.SenderKeys.GetSenderKey(ctx, "120363000000000001@g.us", "33611111111:0")
		wantRefused("plaintext in encrypted store", err, secrets.ErrNotSealed, "whatsmeow_sender_keys.sender_key")

		// Bob's untouched session still works.
		if s, err := bob.Sessions.GetSession(ctx, "33611111111:0"); err != nil || len(s) != 300 {
			t.Errorf("untouched session: %d bytes, %v", len(s), err)
		}
	})
}

// TestEncryptionTurnedOnLater starts a store without a key (as a first run would), on the
// schema of the release before sealing existed, then configures a key: the upgrade keeps every
// row (the SQLite rebuild must not cascade-delete a device's data), all secrets get encrypted,
// and the store can no longer be opened without the key.
func TestEncryptionTurnedOnLater(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		// The v1 schema, and an unencrypted store on it.
		v1 := dbutil.BuildUpgradeTable().WithFSPath(schemaFS, "schema").Finish()[:1]
		check(t, db.Child(VersionTable, v1, nil).Upgrade(ctx))
		old := New(db, zerolog.Nop(), WithKeyring(nil))
		v1Columns := slices.DeleteFunc(SealedColumns(), func(c secrets.Column) bool { return c.Table == colInbound.Table })
		sealer, err := secrets.Activate(ctx, old.db, SecretScope, nil, v1Columns, zerolog.Nop())
		check(t, err)
		old.sealer.Store(sealer)
		dev := pairedDevice(t, old, "111")
		set := fillV1Secrets(t, old, dev)
		dump, before := dumpDatabase(t, db)
		if len(leaks(dump, set)) == 0 {
			t.Fatal("the unencrypted store does not hold the secrets in the clear")
		}

		// Restart with a key: upgrade to v2 and encryption in one go.
		logs, log := bufferLog()
		c := New(db, log, WithKeyring(testRing))
		check(t, c.Upgrade(ctx))
		if !c.Encrypted() || !strings.Contains(logs.String(), "existing values encrypted") {
			t.Fatalf("encrypted=%v, logs: %s", c.Encrypted(), logs)
		}
		dump, after := dumpDatabase(t, db)
		for table, n := range before {
			if strings.HasPrefix(table, "whatsmeow_") && table != VersionTable && after[table] != n {
				t.Errorf("table %s had %d rows before the upgrade, %d after", table, n, after[table])
			}
		}
		if found := leaks(dump, set); len(found) > 0 {
			t.Errorf("after turning encryption on the database still reveals: %s", strings.Join(found, ", "))
		}
		got, err := c.GetDevice(ctx, *dev.ID)
		check(t, err)
		if got == nil || !bytes.Equal(got.IdentityKey.Priv[:], set["identity key"]) {
			t.Fatal("device does not read back after encryption")
		}
		if s, err := got.Sessions.GetSession(ctx, "33611111111:0"); err != nil || !bytes.Equal(s, set["session"]) {
			t.Fatalf("session after encryption: %v", err)
		}
		// Foreign keys survived the SQLite rebuild: logout still removes everything.
		check(t, c.DeleteDevice(ctx, got))
		_, afterLogout := dumpDatabase(t, db)
		if n := afterLogout["whatsmeow_sessions"] + afterLogout["whatsmeow_pre_keys"] + afterLogout["whatsmeow_sent_message"]; n != 0 {
			t.Errorf("%d rows left after logout: foreign keys lost in the upgrade", n)
		}

		// Without the key the bridge refuses to start rather than write plaintext.
		err = New(db, zerolog.Nop(), WithKeyring(nil)).Upgrade(ctx)
		if !errors.Is(err, secrets.ErrNoKey) || !strings.Contains(err.Error(), secrets.EnvKey) {
			t.Fatalf("Upgrade without key on an encrypted store: %v", err)
		}
	})
}

// TestKeyringFromEnvironment checks the default of New: the keyring configured in the
// environment, and a clear error when that configuration is broken.
func TestKeyringFromEnvironment(t *testing.T) {
	ctx := context.Background()
	key, err := secrets.GenerateKey()
	check(t, err)
	db := dbtest.Open(t, "sqlite3-fk-wal")

	t.Setenv(secrets.EnvKey, key)
	c := New(db, zerolog.Nop())
	check(t, c.Upgrade(ctx))
	if !c.Encrypted() {
		t.Fatal("store not encrypted with the key from the environment")
	}
	t.Setenv(secrets.EnvKey, "not base64!")
	if err = New(db, zerolog.Nop()).Upgrade(ctx); err == nil || !strings.Contains(err.Error(), secrets.EnvKey) {
		t.Fatalf("Upgrade with a broken key variable: %v", err)
	}
	if strings.Contains(fmt.Sprint(err), key) {
		t.Fatal("error contains the key")
	}
}

func bufferLog() (*bytes.Buffer, zerolog.Logger) {
	var buf bytes.Buffer
	return &buf, zerolog.New(&buf).Level(zerolog.TraceLevel)
}

// TestLogsRevealNoSecret captures every log line (trace level, every query with its
// arguments) across the store's operations, including failures and a PN→LID migration:
// neither the secrets nor the master key may appear. The same run on an unencrypted store
// shows them in the query log, so the check can fail.
func TestLogsRevealNoSecret(t *testing.T) {
	keyText, err := secrets.GenerateKey()
	check(t, err)
	keyRaw, err := base64.StdEncoding.DecodeString(keyText)
	check(t, err)
	key, err := secrets.ParseKey(keyText)
	check(t, err)

	run := func(t *testing.T, db *dbutil.Database, ring *secrets.Keyring) (*bytes.Buffer, secretSet) {
		ctx := context.Background()
		logs, log := bufferLog()
		c := New(db, log, WithKeyring(ring))
		// Queries log through the root database outside transactions and through the child
		// inside them: log both, with every argument.
		queryLog := dbutil.ZeroLogger(log, dbutil.ZeroLogSettings{TraceLogAllQueries: true})
		db.Log, c.db.Log = queryLog, queryLog
		check(t, c.Upgrade(ctx))
		dev := pairedDevice(t, c, "111")
		set := fillSecrets(t, c, dev)
		set["master key"] = keyRaw

		// Reads, a restart, a PN→LID migration, a retry lookup, and failures.
		_, err := c.GetAllDevices(ctx)
		check(t, err)
		pn, lid := mustJID(t, "33611111111@s.whatsapp.net"), mustJID(t, "98765432101@lid")
		check(t, c.LIDs().PutLIDMapping(ctx, lid, pn))
		check(t, dev.Sessions.MigratePNToLID(ctx, pn, lid))
		if s, err := dev.Sessions.GetSession(ctx, lid.SignalAddress().String()); err != nil || !bytes.Equal(s, set["session"]) {
			t.Fatalf("session after PN→LID migration: %v", err)
		}
		if msg := c.RetryMessageGetter(*dev.ID)(pn, pn, "3EB0SENT"); msg == nil {
			t.Fatal("sent message not found for retry")
		}
		_, err = c.GetDevice(ctx, *dev.ID)
		check(t, err)
		if ring != nil {
			_, err = db.Exec(ctx, `UPDATE whatsmeow_sent_message SET message=noise_key FROM whatsmeow_device WHERE jid=our_jid`)
			check(t, err)
			if msg := c.RetryMessageGetter(*dev.ID)(pn, pn, "3EB0SENT"); msg != nil {
				t.Fatal("tampered sent message returned")
			}
			if !strings.Contains(logs.String(), "Failed to load sent message") {
				t.Fatal("the failed retry lookup was not logged")
			}
		}
		check(t, c.DeleteDevice(ctx, dev))
		return logs, set
	}

	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		logs, set := run(t, db, secrets.NewKeyring(key))
		if logs.Len() == 0 || !strings.Contains(logs.String(), "query_args") {
			t.Fatalf("no query log captured: %q", logs)
		}
		if found := leaks(logs.Bytes(), set); len(found) > 0 {
			t.Errorf("the logs reveal %d secret(s): %s", len(found), strings.Join(found, ", "))
		}
	})
	t.Run("control: unencrypted store", func(t *testing.T) {
		logs, set := run(t, dbtest.Open(t, "sqlite3-fk-wal"), nil)
		delete(set, "master key")
		if found := leaks(logs.Bytes(), set); len(found) == 0 {
			t.Error("the query log of an unencrypted store shows no secret: the check cannot fail")
		}
	})
}

// TestStoreRefusesUseBeforeUpgrade: a container whose Upgrade was not called does not know
// whether the database is encrypted, so it must neither write nor read secrets.
func TestStoreRefusesUseBeforeUpgrade(t *testing.T) {
	db := dbtest.Open(t, "sqlite3-fk-wal")
	ctx := context.Background()
	ready := newContainer(t, db)
	dev := pairedDevice(t, ready, "111")

	c := New(db, zerolog.Nop(), WithKeyring(testRing))
	if c.Encrypted() {
		t.Error("an unactivated container claims to be encrypted")
	}
	if _, err := c.GetDevice(ctx, *dev.ID); !errors.Is(err, secrets.ErrNotActivated) {
		t.Errorf("GetDevice before Upgrade: %v, want ErrNotActivated", err)
	}
	other := ready.NewDevice()
	other.ID, other.Account = new(types.JID), dev.Account
	*other.ID = mustJID(t, "222:7@s.whatsapp.net")
	if err := c.PutDevice(ctx, other); !errors.Is(err, secrets.ErrNotActivated) {
		t.Errorf("PutDevice before Upgrade: %v, want ErrNotActivated", err)
	}
	if err := c.PutSentMessage(ctx, *dev.ID, *dev.ID, "X", &waE2E.Message{Conversation: proto.String("x")}, time.Now()); !errors.Is(err, secrets.ErrNotActivated) {
		t.Errorf("PutSentMessage before Upgrade: %v, want ErrNotActivated", err)
	}
}
