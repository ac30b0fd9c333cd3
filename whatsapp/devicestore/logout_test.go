package devicestore

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/store"
	"google.golang.org/protobuf/proto"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// perDeviceTables lists every table holding a device's data, with its device column.
var perDeviceTables = map[string]string{
	"whatsmeow_device":                  "jid",
	"whatsmeow_identity_keys":           "our_jid",
	"whatsmeow_sessions":                "our_jid",
	"whatsmeow_pre_keys":                "our_jid",
	"whatsmeow_sender_keys":             "our_jid",
	"whatsmeow_app_state_sync_keys":     "our_jid",
	"whatsmeow_app_state_version":       "our_jid",
	"whatsmeow_app_state_mutation_macs": "our_jid",
	"whatsmeow_contacts":                "our_jid",
	"whatsmeow_chat_settings":           "our_jid",
	"whatsmeow_message_secrets":         "our_jid",
	"whatsmeow_privacy_tokens":          "our_jid",
	"whatsmeow_event_buffer":            "our_jid",
	"whatsmeow_sent_message":            "our_jid",
}

// fillDevice writes at least one row into every per-device table through the store interfaces.
func fillDevice(t *testing.T, c *Container, dev *store.Device) {
	t.Helper()
	ctx := context.Background()
	peer := mustJID(t, "336@s.whatsapp.net")
	check(t, dev.Identities.PutIdentity(ctx, "336:1", [32]byte(randBytes(t, 32))))
	check(t, dev.Sessions.PutSession(ctx, "336:1", []byte("s")))
	_, err := dev.PreKeys.GetOrGenPreKeys(ctx, 3)
	check(t, err)
	check(t, dev.SenderKeys.PutSenderKey(ctx, "g@g.us", "336:1", []byte("k")))
	check(t, dev.AppStateKeys.PutAppStateSyncKey(ctx, []byte{1}, store.AppStateSyncKey{Data: []byte("d"), Fingerprint: []byte("f"), Timestamp: 1}))
	check(t, dev.AppState.PutAppStateVersion(ctx, "regular", 1, [128]byte{}))
	check(t, dev.AppState.PutAppStateMutationMACs(ctx, "regular", 1, []store.AppStateMutationMAC{{IndexMAC: randBytes(t, 32), ValueMAC: randBytes(t, 32)}}))
	_, _, err = dev.Contacts.PutPushName(ctx, peer, "Peer")
	check(t, err)
	check(t, dev.ChatSettings.PutPinned(ctx, peer, true))
	check(t, dev.MsgSecrets.PutMessageSecret(ctx, peer, peer, "M", []byte("secret")))
	check(t, dev.PrivacyTokens.PutPrivacyTokens(ctx, store.PrivacyToken{User: peer, Token: []byte("t"), Timestamp: time.Now()}))
	check(t, dev.EventBuffer.PutBufferedEvent(ctx, sha256.Sum256(randBytes(t, 8)), []byte("p"), time.Now()))
	check(t, c.PutSentMessage(ctx, *dev.ID, peer, "M", &waE2E.Message{Conversation: proto.String("hi")}, time.Now()))
	check(t, dev.LIDs.PutLIDMapping(ctx, mustJID(t, "4242@lid"), peer))
}

func countRows(t *testing.T, db *dbutil.Database, table, column, jid string) int {
	t.Helper()
	var n int
	check(t, db.QueryRow(context.Background(), "SELECT COUNT(*) FROM "+table+" WHERE "+column+"=$1", jid).Scan(&n))
	return n
}

func TestDeleteDeviceRemovesAllItsData(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		gone := pairedDevice(t, c, "100")
		kept := pairedDevice(t, c, "200")
		fillDevice(t, c, gone)
		fillDevice(t, c, kept)
		goneJID, keptJID := gone.ID.String(), kept.ID.String()
		for table, col := range perDeviceTables {
			if countRows(t, db, table, col, goneJID) == 0 {
				t.Fatalf("fillDevice wrote nothing to %s: the test would prove nothing", table)
			}
		}

		check(t, gone.Delete(ctx)) // what whatsmeow calls on logout
		if gone.ID != nil {
			t.Error("Device.Delete left the ID set")
		}
		for table, col := range perDeviceTables {
			if n := countRows(t, db, table, col, goneJID); n != 0 {
				t.Errorf("%s still has %d rows of the logged-out device", table, n)
			}
			if n := countRows(t, db, table, col, keptJID); n == 0 {
				t.Errorf("%s lost the other device's rows", table)
			}
		}
		// The LID map is shared knowledge and stays.
		if lid, _ := c.LIDs().GetLIDForPN(ctx, mustJID(t, "336@s.whatsapp.net")); lid.IsEmpty() {
			t.Error("logout deleted the global LID map")
		}
		if dev, err := c.GetDevice(ctx, mustJID(t, goneJID)); err != nil || dev != nil {
			t.Errorf("deleted device still loadable: %v %v", dev, err)
		}
		// Deleting again is harmless.
		again := mustJID(t, goneJID)
		check(t, c.DeleteDevice(ctx, &store.Device{ID: &again}))
	})
}

// TestEveryTableCovered fails when a migration adds a whatsmeow_ table that the logout test
// does not know about.
func TestEveryTableCovered(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		newContainer(t, db)
		var query string
		if db.Dialect == dbutil.Postgres {
			query = "SELECT table_name FROM information_schema.tables WHERE table_schema=current_schema() AND table_name LIKE 'whatsmeow%'"
		} else {
			query = "SELECT name FROM sqlite_master WHERE type='table' AND name LIKE 'whatsmeow%'"
		}
		rows, err := db.Query(ctx, query)
		check(t, err)
		defer rows.Close()
		for rows.Next() {
			var name string
			check(t, rows.Scan(&name))
			if _, ok := perDeviceTables[name]; !ok && name != "whatsmeow_lid_map" && name != VersionTable {
				t.Errorf("table %s is not covered by the logout test", name)
			}
		}
		check(t, rows.Err())
	})
}
