package devicestore

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestUpgradeCoexistsWithOtherSchemas(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		// Another owner of the same database (as bridgev2 is) with its own version table.
		other := db.Child("other_version", dbutil.BuildUpgradeTable().
			WithRaw(0, 1, 0, "other", dbutil.TxnModeOn, func(ctx context.Context, db *dbutil.Database) error {
				_, err := db.Exec(ctx, "CREATE TABLE other_thing (id INTEGER PRIMARY KEY)")
				return err
			}).Finish(), nil)
		check(t, other.Upgrade(ctx))

		c := newContainer(t, db)
		check(t, c.Upgrade(ctx)) // idempotent
		var version int
		check(t, db.QueryRow(ctx, "SELECT version FROM "+VersionTable).Scan(&version))
		if version != len(upgradeTable) {
			t.Errorf("whatsmeow_version = %d, want %d", version, len(upgradeTable))
		}
		for _, table := range []string{"whatsmeow_device", "whatsmeow_lid_map", "whatsmeow_event_buffer", "whatsmeow_sent_message", "other_thing"} {
			exists, err := db.TableExists(ctx, table)
			check(t, err)
			if !exists {
				t.Errorf("table %s missing", table)
			}
		}
		check(t, other.Upgrade(ctx))
	})
}

func TestUpgradeRefusesSQLiteWithoutForeignKeys(t *testing.T) {
	db, err := dbutil.NewWithDialect("file:"+filepath.Join(t.TempDir(), "nofk.db"), "sqlite3")
	check(t, err)
	t.Cleanup(func() { _ = db.Close() })
	err = New(db, zerolog.Nop()).Upgrade(context.Background())
	if err == nil || !strings.Contains(err.Error(), "foreign keys are off") {
		t.Fatalf("Upgrade on SQLite without foreign keys = %v, want the foreign keys error", err)
	}
}

func TestDeviceRoundTrip(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)

		first, err := c.GetFirstDevice(ctx)
		check(t, err)
		if first.ID != nil || first.Identities != nil {
			t.Fatalf("GetFirstDevice on empty store: got stored device %v", first.ID)
		}
		missing, err := c.GetDevice(ctx, mustJID(t, "123:1@s.whatsapp.net"))
		check(t, err)
		if missing != nil {
			t.Fatalf("GetDevice of unknown JID = %v, want nil", missing.ID)
		}

		b := pairedDevice(t, c, "222")
		a := pairedDevice(t, c, "111")
		a.LID = mustJID(t, "9999:7@lid")
		a.FacebookUUID = uuid.New()
		a.LIDMigrationTimestamp = 1700000000
		a.BusinessName = "Ministry"
		check(t, c.PutDevice(ctx, a))

		got, err := c.GetDevice(ctx, *a.ID)
		check(t, err)
		if got == nil {
			t.Fatal("stored device not found")
		}
		compareDevices(t, a, got)
		if !got.Initialized || got.Sessions == nil || got.LIDs == nil || got.EventBuffer == nil || got.Container != c {
			t.Error("loaded device has no stores attached")
		}

		all, err := c.GetAllDevices(ctx)
		check(t, err)
		if len(all) != 2 || *all[0].ID != *a.ID || *all[1].ID != *b.ID {
			t.Fatalf("GetAllDevices = %d devices, want [a b] ordered by JID", len(all))
		}
		first, err = c.GetFirstDevice(ctx)
		check(t, err)
		if *first.ID != *a.ID {
			t.Errorf("GetFirstDevice = %s, want %s", first.ID, a.ID)
		}

		// Overwrite the mutable fields.
		a.PushName = "Renamed"
		a.LID = types.EmptyJID
		check(t, c.PutDevice(ctx, a))
		got, err = c.GetDevice(ctx, *a.ID)
		check(t, err)
		if got.PushName != "Renamed" || !got.LID.IsEmpty() {
			t.Errorf("after update: push name %q, LID %s", got.PushName, got.LID)
		}
	})
}

func compareDevices(t *testing.T, want, got *store.Device) {
	t.Helper()
	if *got.ID != *want.ID || got.LID != want.LID {
		t.Errorf("JIDs: got %s/%s, want %s/%s", got.ID, got.LID, want.ID, want.LID)
	}
	if *got.NoiseKey.Priv != *want.NoiseKey.Priv || *got.NoiseKey.Pub != *want.NoiseKey.Pub {
		t.Error("noise key differs")
	}
	if *got.IdentityKey.Priv != *want.IdentityKey.Priv || *got.IdentityKey.Pub != *want.IdentityKey.Pub {
		t.Error("identity key differs")
	}
	if *got.SignedPreKey.Priv != *want.SignedPreKey.Priv || got.SignedPreKey.KeyID != want.SignedPreKey.KeyID ||
		*got.SignedPreKey.Signature != *want.SignedPreKey.Signature {
		t.Error("signed prekey differs")
	}
	if got.RegistrationID != want.RegistrationID || !bytes.Equal(got.AdvSecretKey, want.AdvSecretKey) {
		t.Error("registration ID or adv secret differs")
	}
	if !bytes.Equal(got.Account.Details, want.Account.Details) ||
		!bytes.Equal(got.Account.AccountSignature, want.Account.AccountSignature) ||
		!bytes.Equal(got.Account.AccountSignatureKey, want.Account.AccountSignatureKey) ||
		!bytes.Equal(got.Account.DeviceSignature, want.Account.DeviceSignature) {
		t.Error("account (ADV identity) differs")
	}
	if got.Platform != want.Platform || got.PushName != want.PushName || got.BusinessName != want.BusinessName ||
		got.FacebookUUID != want.FacebookUUID || got.LIDMigrationTimestamp != want.LIDMigrationTimestamp {
		t.Errorf("metadata differs: got %q %q %q %s %d", got.Platform, got.PushName, got.BusinessName, got.FacebookUUID, got.LIDMigrationTimestamp)
	}
}

func TestPutDeviceRejectsIncompleteDevices(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		jid := mustJID(t, "555:3@s.whatsapp.net")
		tests := []struct {
			name   string
			mutate func(*store.Device)
			want   error
		}{
			{"no JID", func(d *store.Device) { d.ID = nil }, ErrDeviceIDMustBeSet},
			{"nil Account", func(d *store.Device) { d.Account = nil }, ErrDeviceIncomplete},
			{"nil identity key", func(d *store.Device) { d.IdentityKey = nil }, ErrDeviceIncomplete},
			{"nil noise key", func(d *store.Device) { d.NoiseKey = nil }, ErrDeviceIncomplete},
			{"nil signed prekey", func(d *store.Device) { d.SignedPreKey = nil }, ErrDeviceIncomplete},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				dev := pairedDeviceUnsaved(t, c, jid)
				tt.mutate(dev)
				err := c.PutDevice(ctx, dev)
				if !errors.Is(err, tt.want) {
					t.Fatalf("PutDevice = %v, want %v", err, tt.want)
				}
			})
		}
		if dev, err := c.GetDevice(ctx, jid); err != nil || dev != nil {
			t.Fatalf("rejected device was stored: %v %v", dev, err)
		}
		if err := c.DeleteDevice(ctx, c.NewDevice()); !errors.Is(err, ErrDeviceIDMustBeSet) {
			t.Errorf("DeleteDevice without JID = %v", err)
		}

		// Same JID, different identity: must not silently keep the old keys.
		stored := pairedDevice(t, c, "777")
		impostor := pairedDeviceUnsaved(t, c, *stored.ID)
		if err := c.PutDevice(ctx, impostor); !errors.Is(err, ErrDeviceKeyMismatch) {
			t.Fatalf("PutDevice with other identity under same JID = %v, want ErrDeviceKeyMismatch", err)
		}
	})
}

func pairedDeviceUnsaved(t *testing.T, c *Container, jid types.JID) *store.Device {
	t.Helper()
	tmp := pairedDevice(t, c, "tmp")
	check(t, c.DeleteDevice(context.Background(), tmp))
	dev := c.NewDevice()
	dev.ID = &jid
	dev.Account = tmp.Account
	return dev
}

func TestSameJIDAfterRepairReattachesStores(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		c := newContainer(t, db)
		dev := pairedDevice(t, c, "321")
		// whatsmeow's logout clears ID, a later pairing of the same Device object sets a new one.
		check(t, dev.Delete(ctx))
		newID := mustJID(t, "321:9@s.whatsapp.net")
		dev.ID = &newID
		check(t, dev.Save(ctx))
		check(t, dev.Sessions.PutSession(ctx, "x:1", []byte{1}))
		var owner string
		check(t, db.QueryRow(ctx, "SELECT our_jid FROM whatsmeow_sessions").Scan(&owner))
		if owner != newID.String() {
			t.Fatalf("session stored under %s, want the new JID %s", owner, newID)
		}
	})
}

func TestUpgradeRefusesUpstreamSQLStoreSchema(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		// What whatsmeow's own sqlstore leaves behind: its tables at v11, compatible with v8+.
		_, err := db.Exec(ctx, "CREATE TABLE whatsmeow_version (version INTEGER, compat INTEGER)")
		check(t, err)
		_, err = db.Exec(ctx, "INSERT INTO whatsmeow_version (version, compat) VALUES (11, 8)")
		check(t, err)
		err = New(db, zerolog.Nop()).Upgrade(ctx)
		if !errors.Is(err, dbutil.ErrUnsupportedDatabaseVersion) {
			t.Fatalf("Upgrade over an upstream sqlstore schema = %v, want ErrUnsupportedDatabaseVersion", err)
		}
	})
}
