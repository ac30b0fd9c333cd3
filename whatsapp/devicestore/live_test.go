package devicestore

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/secrets"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestLiveClientsLeakNoSecret pairs two real whatsmeow clients with the WhatsApp test server on
// a sealed device store, exchanges messages both ways and reconnects one of them from the
// database, with every log line captured (whatsmeow's at debug, the store's, and every query
// with its arguments). Afterwards neither the logs nor the database contain the devices'
// private keys, their Signal sessions, prekeys or the master key.
func TestLiveClientsLeakNoSecret(t *testing.T) {
	keyText, err := secrets.GenerateKey()
	check(t, err)
	keyRaw, err := base64.StdEncoding.DecodeString(keyText)
	check(t, err)
	key, err := secrets.ParseKey(keyText)
	check(t, err)
	ring := secrets.NewKeyring(key)

	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		logs, log := bufferLog()
		queryLog := dbutil.ZeroLogger(log, dbutil.ZeroLogSettings{TraceLogAllQueries: true})
		db.Log = queryLog

		srv, err := watestserver.Start(watestserver.Options{})
		check(t, err)
		restore := srv.TrustRoot()
		defer func() { srv.Close(); restore() }()

		c := New(db, log, WithKeyring(ring))
		c.db.Log = queryLog
		check(t, c.Upgrade(ctx))
		phoneLog := log.Level(zerolog.DebugLevel)
		mia, err := srv.NewPhone(ctx, "447700900001", watestserver.PhoneOptions{PushName: "Mia", Device: c.NewDevice(), Log: &phoneLog})
		check(t, err)
		defer mia.Close()
		noah, err := srv.NewPhone(ctx, "447700900002", watestserver.PhoneOptions{PushName: "Noah", Device: c.NewDevice(), Log: &phoneLog})
		check(t, err)

		send := func(from, to *watestserver.Phone, evlog *watestserver.EventLog, text string) {
			t.Helper()
			resp, err := from.SendText(ctx, to.JID.ToNonAD(), text)
			check(t, err)
			if _, _, err = watestserver.WaitFor(ctx, evlog, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID }); err != nil {
				t.Fatalf("%q not received: %v", text, err)
			}
		}
		send(mia, noah, noah.Events, "hello from Mia")
		send(noah, mia, mia.Events, "hello from Noah")

		// Noah comes back from the database.
		noah.Close()
		saved, err := c.GetDevice(ctx, noah.JID)
		if err != nil || saved == nil {
			t.Fatalf("load noah's device: %v", err)
		}
		cli := whatsmeow.NewClient(saved, nil)
		srv.ConfigureClient(cli)
		evts := watestserver.NewEventLog(cli)
		defer cli.Disconnect()
		check(t, cli.Connect())
		if _, _, err = watestserver.WaitFor[*events.Connected](ctx, evts, 0, nil); err != nil {
			t.Fatal(err)
		}
		resp, err := mia.SendText(ctx, noah.JID.ToNonAD(), "welcome back")
		check(t, err)
		if _, _, err = watestserver.WaitFor(ctx, evts, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID }); err != nil {
			t.Fatal(err)
		}

		set := secretSet{"master key": keyRaw}
		for name, jid := range map[string]string{"mia": mia.JID.String(), "noah": noah.JID.String()} {
			dev, err := c.GetDevice(ctx, mustJID(t, jid))
			if err != nil || dev == nil {
				t.Fatalf("device %s: %v", jid, err)
			}
			set[name+" noise key"] = dev.NoiseKey.Priv[:]
			set[name+" identity key"] = dev.IdentityKey.Priv[:]
			set[name+" signed prekey"] = dev.SignedPreKey.Priv[:]
			set[name+" adv secret"] = dev.AdvSecretKey
			if pk, err := dev.PreKeys.GetPreKey(ctx, 5); err == nil && pk != nil {
				set[name+" prekey 5"] = pk.Priv[:]
			}
		}
		// Every Signal session either phone holds.
		for _, jid := range []string{mia.JID.String(), noah.JID.String()} {
			dev, err := c.GetDevice(ctx, mustJID(t, jid))
			check(t, err)
			rows, err := db.Query(ctx, `SELECT their_id FROM whatsmeow_sessions WHERE our_jid=$1`, jid)
			check(t, err)
			var addrs []string
			for rows.Next() {
				var a string
				check(t, rows.Scan(&a))
				addrs = append(addrs, a)
			}
			check(t, rows.Close())
			for _, a := range addrs {
				sess, err := dev.Sessions.GetSession(ctx, a)
				check(t, err)
				set[jid+" session with "+a] = sess
			}
		}
		if len(set) < 12 {
			t.Fatalf("only %d secrets gathered: no Signal session stored between the phones?", len(set))
		}
		if !strings.Contains(logs.String(), "query_args") {
			t.Fatal("no query log captured")
		}
		// whatsmeow logs each QR code at debug level ("Emitting QR code"), and a QR code
		// carries the device's adv secret by design: it is how the phone learns it, so whoever
		// sees the QR sees it. Those lines are left out here; the bridge keeps whatsmeow's
		// QRChannel logger above debug (see the report to the whatsapp connector).
		var kept []string
		for _, line := range strings.Split(logs.String(), "\n") {
			if !strings.Contains(line, `"sublogger":"QRChannel"`) {
				kept = append(kept, line)
			}
		}
		if found := leaks([]byte(strings.Join(kept, "\n")), set); len(found) > 0 {
			t.Errorf("the logs reveal: %s", strings.Join(found, ", "))
		}
		dump, _ := dumpDatabase(t, db)
		if found := leaks(dump, set); len(found) > 0 {
			t.Errorf("the database reveals: %s", strings.Join(found, ", "))
		}
	})
}
