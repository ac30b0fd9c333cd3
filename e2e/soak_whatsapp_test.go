package e2e

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/pgtest"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestSoakWhatsApp is TestSoak with a WhatsApp contact: a whatsmeow phone on the WhatsApp test
// server and a Matrix user write to each other through the bridge binary while the bridge, the
// homeserver and the bridge's PostgreSQL (which also holds the bridge's WhatsApp device store)
// are each killed (SIGKILL) and restarted; any message lost or duplicated in either direction
// fails the test.
//
// WhatsApp's path differs from Telegram's where a crash can hurt: the test server keeps what it
// could not deliver to the bridge's device and sends it again at the next login, the bridge
// acknowledges a message once it is in its inbound journal (handed to bridgev2 from there), and
// its Signal sessions live in the database that is killed under it.
func TestSoakWhatsApp(t *testing.T) { soakWhatsApp(t, false, "33640000051", "33640000052") }

// TestSoakEncryptedWhatsApp is TestSoakWhatsApp in an encrypted portal with a crypto client, as
// deployments have it by default. PASSERELLE_SOAK_ENCRYPTED=0 skips it, as TestSoakEncrypted.
func TestSoakEncryptedWhatsApp(t *testing.T) {
	requireEncryptedSoak(t)
	soakWhatsApp(t, true, "33640000061", "33640000062")
}

func soakWhatsApp(t *testing.T, encrypted bool, alicePhone, bobPhone string) {
	n := soakMessages(t)
	ctx := context.Background()
	pg := pgtest.Start(t)
	dbURI, err := pg.CreateDatabase(ctx, "passerelle_soak_wa")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer srv.TrustRoot()()
	waSection := whatsappSection(t, srv)
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "postgres", DatabaseURI: dbURI, DisableEncryption: !encrypted,
		LogLevel: "debug",
		Edit: func(cfg bridgetest.Config) error {
			if err := waSection(cfg); err != nil {
				return err
			}
			return cfg.Set(false, "network", "telegram", "enabled")
		},
	})
	if keep := os.Getenv("PASSERELLE_SOAK_KEEP_LOG"); keep != "" {
		// A passing run's bridge log is removed with the bridge; copy it first (cleanups run
		// in reverse order), to study a run that passed.
		t.Cleanup(func() {
			if raw, err := os.ReadFile(br.LogPath); err != nil {
				t.Logf("keep the bridge log: %v", err)
			} else if err := os.WriteFile(keep, raw, 0o644); err != nil {
				t.Logf("keep the bridge log: %v", err)
			}
		})
	}
	alice, crypto := soakMatrixUser(t, br, "soak-wa", encrypted)
	setupCtx, cancelSetup := context.WithTimeout(ctx, 5*time.Minute)
	defer cancelSetup()
	linkWhatsAppQR(t, setupCtx, br, srv, alice, alicePhone)

	bob, err := srv.NewPhone(setupCtx, bobPhone, watestserver.PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	// The contact's sends and decryptions take turns (see lockedEventBuffer); set before any
	// message reaches the phone.
	var bobCrypto sync.Mutex
	bob.Client.EnableDecryptedEventBuffer = true
	bob.Client.Store.EventBuffer = lockedEventBuffer{EventBuffer: bob.Client.Store.EventBuffer, mu: &bobCrypto}
	aliceJID := types.NewJID(alicePhone, types.DefaultUserServer)
	if _, err = bob.SendText(setupCtx, aliceJID, "soak start"); err != nil {
		t.Fatal(err)
	}
	room := waitInvite(t, setupCtx, alice)
	if _, err = alice.JoinRoomByID(setupCtx, room); err != nil {
		t.Fatalf("join portal room: %v", err)
	}
	seenEvents := soakPortalReady(t, br, alice, crypto, room)

	// The WhatsApp message ID of each text the contact sent, to name them in a failure report.
	var waIDsMu sync.Mutex
	waIDs := map[string]types.MessageID{}
	r2m, m2r, matrixOwn := runSoak(t, soakRun{
		network: "WhatsApp", n: n, alice: alice, room: room, seen: seenEvents,
		faults: soakFaults(br, pg),
		contactSend: func(ctx context.Context, text string) error {
			bobCrypto.Lock()
			resp, err := bob.SendText(ctx, aliceJID, text)
			bobCrypto.Unlock()
			if err == nil {
				waIDsMu.Lock()
				waIDs[text] = resp.ID
				waIDsMu.Unlock()
			}
			return err
		},
		contactGot: func() map[string]int { return soakPhoneCounts(bob) },
	})
	lostR2M, dupR2M, _ := soakMissingAndExtra(n, "r2m", r2m, nil)
	lostM2R, dupM2R, unseenM2R := soakMissingAndExtra(n, "m2r", m2r, matrixOwn)
	if len(unseenM2R) > 0 {
		t.Logf("homeserver fault, not the bridge's: %d message(s) the Matrix user sent never appeared in the room (neither /sync nor /messages), so no one got them: %v", len(unseenM2R), head(unseenM2R))
	}
	t.Logf("WhatsApp → Matrix: %d sent, %d arrived, %d lost, %d duplicated", n, len(r2m), len(lostR2M), len(dupR2M))
	t.Logf("Matrix → WhatsApp: %d sent, %d arrived, %d lost, %d duplicated", n, len(m2r), len(lostM2R), len(dupM2R))
	if len(lostR2M)+len(dupR2M)+len(lostM2R)+len(dupM2R) == 0 {
		return
	}
	// For each text of the report: its Matrix events, its WhatsApp message ID and what the
	// bridge's message table recorded for either.
	db, err := sql.Open("postgres", dbURI)
	if err != nil {
		t.Logf("open the bridge database: %v", err)
	}
	for _, list := range [][]string{lostR2M, dupR2M, lostM2R, dupM2R} {
		for _, text := range head(list) {
			text, _, _ = strings.Cut(text, "×")
			waIDsMu.Lock()
			waID := waIDs[text]
			waIDsMu.Unlock()
			var rows map[string]id.EventID
			if db != nil {
				rows = soakMessageRows(ctx, t, db, string(waID), soakEventIDs[text])
			}
			t.Logf("%s: Matrix events %v, WhatsApp ID %q, bridge message rows %v", text, soakEventIDs[text], waID, rows)
			// An event the bridge recorded but the room does not show: does the homeserver
			// serve it by ID?
			for _, mxid := range rows {
				if len(soakEventIDs[text]) == 0 {
					_, err := alice.GetEvent(ctx, room, mxid)
					t.Logf("%s: GET %s from the homeserver: %v", text, mxid, err)
				}
			}
		}
	}
	if db != nil {
		_ = db.Close()
	}
	t.Errorf("lost to Matrix: %v\nduplicated in Matrix: %v\nlost to WhatsApp: %v\nduplicated on WhatsApp: %v",
		head(lostR2M), head(dupR2M), head(lostM2R), head(dupM2R))
}

// lockedEventBuffer makes a test phone's decryptions take turns with its sends (made under mu).
// whatsmeow orders neither against the other, and a decryption racing a send overwrote the
// session the send had advanced: the phone reused a chain counter and the bridge dropped its
// next message as "old counter" (the bridge orders its own with devicestore.CryptoLock).
type lockedEventBuffer struct {
	store.EventBuffer
	mu *sync.Mutex
}

func (b lockedEventBuffer) DoDecryptionTxn(ctx context.Context, fn func(context.Context) error) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.EventBuffer.DoDecryptionTxn(ctx, fn)
}

// soakPhoneCounts counts the "m2r-" texts the phone shows from its one correspondent, as a
// WhatsApp app shows them: it keys messages by (chat, sender, message ID) and keeps one copy of
// a key it already has, so a send the bridge repeated under the same ID (its first attempt went
// unanswered; see idForEvent) is one message. The same text under another ID is a second
// message on the phone and counts twice.
func soakPhoneCounts(p *watestserver.Phone) map[string]int {
	type key struct {
		chat, sender types.JID
		id           types.MessageID
	}
	seen := map[key]bool{}
	out := map[string]int{}
	for _, evt := range p.Events.Events() {
		m, ok := evt.(*events.Message)
		if !ok || m.Info.IsFromMe || !strings.HasPrefix(textOf(m), "m2r-") {
			continue
		}
		k := key{m.Info.Chat.ToNonAD(), m.Info.Sender.ToNonAD(), m.Info.ID}
		if seen[k] {
			continue
		}
		seen[k] = true
		out[textOf(m)]++
	}
	return out
}

// soakMessageRows returns the bridge's message rows (remote ID → event ID) whose remote ID ends
// with waID or whose event is one of mxids.
func soakMessageRows(ctx context.Context, t *testing.T, db *sql.DB, waID string, mxids []id.EventID) map[string]id.EventID {
	ids := make([]string, 0, len(mxids))
	for _, e := range mxids {
		ids = append(ids, string(e))
	}
	pattern := "-"
	if waID != "" {
		pattern = "%" + waID
	}
	rows, err := db.QueryContext(ctx, `SELECT id, mxid FROM message WHERE id LIKE $1 OR mxid = ANY(string_to_array($2, ','))`,
		pattern, strings.Join(ids, ","))
	if err != nil {
		t.Logf("read message rows: %v", err)
		return nil
	}
	defer rows.Close()
	out := map[string]id.EventID{}
	for rows.Next() {
		var rid, mxid string
		if err := rows.Scan(&rid, &mxid); err != nil {
			t.Logf("read message rows: %v", err)
			return out
		}
		out[rid] = id.EventID(mxid)
	}
	return out
}
