package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/internal/pgtest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// soakMessages is how many messages go each way; PASSERELLE_SOAK_MESSAGES overrides it.
func soakMessages(t *testing.T) int {
	if v := os.Getenv("PASSERELLE_SOAK_MESSAGES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			t.Fatalf("PASSERELLE_SOAK_MESSAGES=%q: want a positive number", v)
		}
		return n
	}
	if testing.Short() {
		return 150
	}
	return 1000
}

// soakFault is one component the soak test kills with SIGKILL and brings back.
type soakFault struct {
	name  string
	kill  func() error
	start func(context.Context) error
}

// TestSoak sends messages both ways between a Telegram contact and a Matrix user while the
// bridge, the homeserver and the bridge's PostgreSQL are each killed (SIGKILL) and restarted
// several times, then counts, per direction, the messages that never arrived and those that
// arrived more than once. Any loss or duplicate fails the test.
//
// Duplicates are counted against what the sender itself produced: a Matrix client that retries
// a send across a homeserver crash may create the event twice (the homeserver forgot the
// transaction ID), and the bridge must then deliver it exactly as many times, no more.
func TestSoak(t *testing.T) { soakTelegram(t, false) }

// TestSoakEncrypted is TestSoak with end-to-bridge encryption on, as deployments have it by
// default: the portal is encrypted and the Matrix user is a crypto client. It was opt-in while a
// loss it found in CI (one Matrix → Telegram message sent around a homeserver stop; fixed, see
// docs/operations.md) waited for more passing runs; it has passed in every run since, CI
// included, and runs by default. PASSERELLE_SOAK_ENCRYPTED=0 skips it (and the WhatsApp one) for a
// quicker local run.
func TestSoakEncrypted(t *testing.T) {
	requireEncryptedSoak(t)
	soakTelegram(t, true)
}

// requireEncryptedSoak skips the encrypted soaks when PASSERELLE_SOAK_ENCRYPTED=0.
func requireEncryptedSoak(t *testing.T) {
	if os.Getenv("PASSERELLE_SOAK_ENCRYPTED") == "0" {
		t.Skip("PASSERELLE_SOAK_ENCRYPTED=0: encrypted soaks skipped")
	}
}

func soakTelegram(t *testing.T, encrypted bool) {
	n := soakMessages(t)
	ctx := context.Background()
	pg := pgtest.Start(t)
	dbURI, err := pg.CreateDatabase(ctx, "passerelle_soak")
	if err != nil {
		t.Fatal(err)
	}
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000051", FirstName: "Soak", LastName: "Owner"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000052", FirstName: "Bob", LastName: "Soak"})
	if err != nil {
		t.Fatal(err)
	}
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "postgres", DatabaseURI: dbURI, DisableEncryption: !encrypted,
		LogLevel: "debug",
		Edit: func(cfg bridgetest.Config) error {
			if err := telegramSection(srv)(cfg); err != nil {
				return err
			}
			return cfg.Set(false, "network", "whatsapp", "enabled")
		},
	})
	alice, crypto := soakMatrixUser(t, br, "soak", encrypted)
	mgmt := br.OpenManagementRoom(t, alice)
	final := tgLogin(t, br, alice, mgmt,
		func() string { return "+33600000051" },
		func() string { code, _ := srv.LastCode("33600000051"); return code },
	)
	if !strings.Contains(final, "Logged in to Telegram") {
		t.Fatalf("login did not finish:\n%s", final)
	}
	dmPeer := tgtestserver.UserPeer(me.ID())
	if _, err := bob.SendText(dmPeer, "soak start"); err != nil {
		t.Fatal(err)
	}
	room := tgWaitInvite(t, alice, map[id.RoomID]bool{mgmt: true})
	seenEvents := soakPortalReady(t, br, alice, crypto, room)
	r2m, m2r, matrixOwn := runSoak(t, soakRun{
		network: "Telegram", n: n, alice: alice, room: room, seen: seenEvents,
		faults: soakFaults(br, pg),
		contactSend: func(_ context.Context, text string) error {
			_, err := bob.SendText(dmPeer, text)
			return err
		},
		contactGot: func() map[string]int {
			return soakTelegramCounts(srv.History(bob.ID(), tgtestserver.UserPeer(me.ID())), me.ID())
		},
	})
	lostR2M, dupR2M, _ := soakMissingAndExtra(n, "r2m", r2m, nil)
	lostM2R, dupM2R, unseenM2R := soakMissingAndExtra(n, "m2r", m2r, matrixOwn)
	if len(unseenM2R) > 0 {
		t.Logf("homeserver fault, not the bridge's: %d message(s) the Matrix user sent never appeared in the room (neither /sync nor /messages), so no one got them: %v", len(unseenM2R), head(unseenM2R))
	}
	t.Logf("Telegram → Matrix: %d sent, %d arrived, %d lost, %d duplicated", n, len(r2m), len(lostR2M), len(dupR2M))
	t.Logf("Matrix → Telegram: %d sent, %d arrived, %d lost, %d duplicated", n, len(m2r), len(lostM2R), len(dupM2R))
	if len(lostR2M)+len(dupR2M)+len(lostM2R)+len(dupM2R) > 0 {
		tgIDs := map[string][]int{}
		for _, m := range srv.History(me.ID(), tgtestserver.UserPeer(bob.ID())) {
			tgIDs[m.Text] = append(tgIDs[m.Text], m.ID)
		}
		for _, list := range [][]string{lostR2M, dupR2M, lostM2R, dupM2R} {
			for _, text := range head(list) {
				text, _, _ = strings.Cut(text, "×")
				t.Logf("%s: Matrix events %v, Telegram message IDs (owner's box) %v", text, soakEventIDs[text], tgIDs[text])
			}
		}
		for _, text := range head(dupR2M) {
			text, _, _ = strings.Cut(text, "×")
			var remoteIDs []string
			for _, tgID := range tgIDs[text] {
				remoteIDs = append(remoteIDs, fmt.Sprintf("tg.u%d.%d", me.ID(), tgID))
			}
			soakExplainCopies(ctx, t, alice, room, br.LogPath, soakEventIDs[text], remoteIDs)
		}
		// For a message lost on its way to Matrix: what the bridge recorded, and whether the
		// homeserver can still show that event.
		if db, err := sql.Open("postgres", dbURI); err == nil {
			for _, text := range head(lostR2M) {
				for _, tgID := range tgIDs[text] {
					var mxid string
					err := db.QueryRowContext(ctx, `SELECT mxid FROM message WHERE id = $1`, fmt.Sprintf("tg.u%d.%d", me.ID(), tgID)).Scan(&mxid)
					if err != nil {
						t.Logf("%s: no message row (%v)", text, err)
						continue
					}
					evt, err := alice.GetEvent(ctx, room, id.EventID(mxid))
					if err != nil {
						t.Logf("%s: bridge recorded %s; the homeserver answers %v", text, mxid, err)
					} else {
						t.Logf("%s: bridge recorded %s; the homeserver has it: %s", text, mxid, evt.Content.VeryRaw)
					}
				}
			}
			_ = db.Close()
		}
		t.Errorf("lost to Matrix: %v\nduplicated in Matrix: %v\nlost to Telegram: %v\nduplicated on Telegram: %v",
			head(lostR2M), head(dupR2M), head(lostM2R), head(dupM2R))
	}
}

// soakMatrixUser is the soak's Matrix user: a crypto client in encrypted soaks (crypto is then
// set), a plain client otherwise; its requests are not retried, so the soak sees every failure.
func soakMatrixUser(t *testing.T, br *bridgetest.Bridge, name string, encrypted bool) (alice *mautrix.Client, crypto *hstest.CryptoUser) {
	if encrypted {
		crypto = br.Homeserver.NewCryptoUser(t, hstest.UniqueLocalpart(name))
		alice = crypto.Client
	} else {
		alice = br.Homeserver.NewUser(t, hstest.UniqueLocalpart(name))
	}
	alice.DefaultHTTPRetries = 0
	return alice, crypto
}

// soakPortalReady waits for the contact's "soak start" in the portal (encrypted when crypto is
// set) and returns what the soak reads the room through.
func soakPortalReady(t *testing.T, br *bridgetest.Bridge, alice *mautrix.Client, crypto *hstest.CryptoUser, room id.RoomID) *soakEvents {
	isStart := func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == "soak start"
	}
	if crypto == nil {
		br.WaitForEvent(t, alice, room, "", isStart)
		return startSoakSync(t, alice, room)
	}
	ctx, cancel := context.WithTimeout(context.Background(), bridgetest.ReplyTimeout)
	err := crypto.WaitForEncryption(ctx, room)
	if err == nil {
		_, err = crypto.WaitForEvent(ctx, room, "", isStart)
	}
	cancel()
	if err != nil {
		t.Fatalf("first message in the encrypted portal: %v", err)
	}
	// A second /sync of the same device would take the room keys (to-device messages) from the
	// crypto client's own sync: its timeline stands in for it.
	return &soakEvents{byID: map[id.EventID]*event.Event{},
		decrypt: func(evt *event.Event) (*event.Event, error) {
			evt.RoomID = room
			return crypto.Helper.Decrypt(context.Background(), evt)
		},
		timeline: func() []*event.Event { return crypto.Timeline(room) },
	}
}

// soakFaults are the components a soak kills in turn: the bridge, its homeserver and its
// PostgreSQL.
// soakFaults kills the bridge and PostgreSQL with SIGKILL. The homeserver is stopped with
// SIGTERM, mid-traffic and without waiting for quiet: Dendrite v0.13.8 does not survive SIGKILL
// (its embedded NATS JetStream loses the unflushed tail of its stream, restarts with the stream
// behind its consumers' acknowledgements, and from then on stores no new event while still
// answering sends with event IDs; seen in CI, 629 and 511 messages "sent" into nothing), which
// no bridge can make up for.
func soakFaults(br *bridgetest.Bridge, pg *pgtest.Server) []soakFault {
	return []soakFault{
		{"bridge", br.Kill, br.Start},
		{"homeserver", br.Homeserver.Stop, br.Homeserver.Start},
		{"postgresql", pg.Kill, pg.Start},
	}
}

// soakRun is one soak between a contact on a remote network and a Matrix user, for runSoak.
type soakRun struct {
	network string // for the log: "Telegram", "WhatsApp"
	n       int
	alice   *mautrix.Client
	room    id.RoomID
	seen    *soakEvents
	faults  []soakFault
	// contactSend sends one text from the contact to the Matrix user's account; an error ends
	// the test (the remote network never goes down).
	contactSend func(ctx context.Context, text string) error
	// contactGot counts the "m2r-" texts the contact received from the Matrix user's account.
	contactGot func() map[string]int
}

// runSoak sends s.n messages each way while killing and restarting each fault in turn (three
// rounds, one with -short), then waits until everything arrived or nothing more moves, and
// returns the counts: r2m texts in the room from the contact's ghost, m2r texts received by the
// contact, and m2r texts the Matrix user's events hold (duplicates are counted against these).
func runSoak(t *testing.T, s soakRun) (r2m, m2r, matrixOwn map[string]int) {
	t.Helper()
	ctx := context.Background()
	n, alice, room := s.n, s.alice, s.room
	rounds := 3
	if testing.Short() {
		rounds = 1
	}
	// Messages are paced so that the faults fall in the middle of the traffic.
	interval := 150 * time.Millisecond
	if testing.Short() {
		interval = 60 * time.Millisecond
	}

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	var wg sync.WaitGroup
	var r2mSent, m2rSent atomic.Int64
	var senderErr error
	var senderErrOnce sync.Once
	fail := func(err error) {
		senderErrOnce.Do(func() { senderErr = err })
		stopLoad()
	}
	wg.Add(2)
	go func() { // remote → Matrix: the contact writes; the remote network itself never goes down.
		defer wg.Done()
		for i := range n {
			if err := s.contactSend(loadCtx, fmt.Sprintf("r2m-%05d", i)); err != nil {
				fail(fmt.Errorf("contact send %d: %w", i, err))
				return
			}
			r2mSent.Add(1)
			if !sleepCtx(loadCtx, interval) {
				return
			}
		}
	}()
	go func() { // Matrix → remote: the Matrix user writes, retrying through homeserver outages.
		defer wg.Done()
		for i := range n {
			content := &event.MessageEventContent{MsgType: event.MsgText, Body: fmt.Sprintf("m2r-%05d", i)}
			txn := fmt.Sprintf("soak-m2r-%05d", i)
			for {
				// Each attempt is bounded: a homeserver killed mid-request may leave it unanswered,
				// and the retry (same transaction ID) is what a client does then.
				sendCtx, cancel := context.WithTimeout(loadCtx, 30*time.Second)
				_, err := alice.SendMessageEvent(sendCtx, room, event.EventMessage, content, mautrix.ReqSendEvent{TransactionID: txn})
				cancel()
				if err == nil {
					break
				}
				if loadCtx.Err() != nil {
					return
				}
				if !sleepCtx(loadCtx, 500*time.Millisecond) {
					return
				}
			}
			m2rSent.Add(1)
			if !sleepCtx(loadCtx, interval) {
				return
			}
		}
	}()

	// Faults, one component at a time, spread over the sending period.
	period := time.Duration(n) * interval
	gap := period / time.Duration(rounds*len(s.faults)+1)
	for r := range rounds {
		for _, f := range s.faults {
			if !sleepCtx(loadCtx, gap) {
				break
			}
			t.Logf("%s round %d: killing %s (sent so far: %d to Matrix, %d to %s)", time.Now().UTC().Format("15:04:05.000"), r+1, f.name, r2mSent.Load(), m2rSent.Load(), s.network)
			if err := f.kill(); err != nil {
				t.Fatalf("kill %s: %v", f.name, err)
			}
			time.Sleep(2 * time.Second)
			startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			err := f.start(startCtx)
			cancel()
			if err != nil {
				t.Fatalf("start %s again: %v", f.name, err)
			}
		}
	}
	wg.Wait()
	if senderErr != nil {
		t.Fatal(senderErr)
	}
	t.Logf("all sent: %d to Matrix, %d to %s; waiting for delivery", r2mSent.Load(), m2rSent.Load(), s.network)

	// Converge: everything sent must arrive; then count.
	deadline := time.Now().Add(6 * time.Minute)
	// A stalled count for this long after the last send means nothing more is coming (the
	// homeserver retries a refused transaction within 64 s, the bridge reconnects within 2 min).
	const stall = 150 * time.Second
	lastCount, lastChange := -1, time.Now()
	for {
		var err error
		readCtx, cancel := context.WithTimeout(ctx, time.Minute)
		r2m, matrixOwn, err = soakMatrixCounts(readCtx, alice, room, s.seen)
		cancel()
		if err == nil {
			m2r = s.contactGot()
			if len(r2m) == n && len(m2r) == len(matrixOwn) && len(matrixOwn) == n {
				break
			}
		}
		if c := len(r2m) + len(m2r); c != lastCount {
			lastCount, lastChange = c, time.Now()
		}
		if time.Now().After(deadline) || time.Since(lastChange) > stall {
			break
		}
		if err != nil {
			t.Logf("waiting: %v", err)
		} else {
			t.Logf("waiting: %d/%d arrived in Matrix, %d/%d on %s", len(r2m), n, len(m2r), len(matrixOwn), s.network)
		}
		time.Sleep(10 * time.Second)
	}
	return r2m, m2r, matrixOwn
}

// soakMatrixCounts reads the whole room and counts each soak text: those from the contact's
// ghost (r2m) and those the Matrix user sent (m2r, to compare with Telegram).
// soakEvents is every message event of the room the test has seen, by event ID: Dendrite's
// /messages may skip events across a restart (seen here: an event the homeserver serves by ID
// missing from every page), so the room is read both by /sync, from before the first message,
// and by /messages, and the union counts.
type soakEvents struct {
	mu   sync.Mutex
	byID map[id.EventID]*event.Event
	// decrypt, set in encrypted soaks, opens m.room.encrypted events (the Matrix user's crypto
	// client); an event it cannot open yet is kept encrypted and tried again when read again.
	decrypt func(*event.Event) (*event.Event, error)
	// timeline, set in encrypted soaks, is the crypto client's view of the room (its own sync).
	timeline func() []*event.Event
}

func (s *soakEvents) add(evt *event.Event) {
	if evt.Type == event.EventEncrypted && s.decrypt != nil {
		if dec, err := s.decrypt(evt); err == nil {
			evt = dec
		} else {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.byID[evt.ID] == nil {
				s.byID[evt.ID] = evt
			}
			return
		}
	}
	if evt.Type != event.EventMessage {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.byID[evt.ID] = evt
}

// startSoakSync follows the room with /sync until the test ends, through homeserver restarts.
func startSoakSync(t *testing.T, cli *mautrix.Client, room id.RoomID) *soakEvents {
	seen := &soakEvents{byID: map[id.EventID]*event.Event{}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	filter, err := cli.CreateFilter(ctx, &mautrix.Filter{Room: &mautrix.RoomFilter{
		Rooms: []id.RoomID{room}, Timeline: &mautrix.FilterPart{Limit: 1000},
	}})
	if err != nil {
		t.Fatalf("sync filter: %v", err)
	}
	// A client of its own, so its retries and timeouts don't disturb the sender's.
	syncCli, err := mautrix.NewClient(cli.HomeserverURL.String(), cli.UserID, cli.AccessToken)
	if err != nil {
		t.Fatalf("sync client: %v", err)
	}
	syncCli.DefaultHTTPRetries = 0
	go func() {
		defer close(done)
		since := ""
		for ctx.Err() == nil {
			resp, err := syncCli.SyncRequest(ctx, 10000, since, filter.FilterID, false, event.PresenceOffline)
			if err != nil {
				time.Sleep(500 * time.Millisecond)
				continue
			}
			if joined := resp.Rooms.Join[room]; joined != nil {
				if joined.Timeline.Limited && since != "" {
					t.Logf("sync: timeline of %s limited; /messages fills the gap", room)
				}
				for _, evt := range joined.Timeline.Events {
					_ = evt.Content.ParseRaw(evt.Type)
					seen.add(evt)
				}
			}
			since = resp.NextBatch
		}
	}()
	return seen
}

// soakMatrixCounts reads the whole room and counts each soak text: those from the contact's
// ghost (r2m) and those the Matrix user sent (m2r, to compare with Telegram).
func soakMatrixCounts(ctx context.Context, cli *mautrix.Client, room id.RoomID, seen *soakEvents) (r2m, own map[string]int, err error) {
	from := ""
	for {
		resp, err := cli.Messages(ctx, room, from, "", mautrix.DirectionBackward, nil, 1000)
		if err != nil {
			return nil, nil, fmt.Errorf("read %s: %w", room, err)
		}
		for _, evt := range resp.Chunk {
			_ = evt.Content.ParseRaw(evt.Type)
			seen.add(evt)
		}
		if resp.End == "" || len(resp.Chunk) == 0 {
			break
		}
		from = resp.End
	}
	if seen.timeline != nil {
		for _, evt := range seen.timeline() {
			seen.add(evt)
		}
	}
	r2m, own = map[string]int{}, map[string]int{}
	clear(soakEventIDs)
	seen.mu.Lock()
	defer seen.mu.Unlock()
	for _, evt := range seen.byID {
		m := evt.Content.AsMessage()
		if m == nil || m.RelatesTo.GetReplaceID() != "" {
			continue
		}
		switch {
		case strings.HasPrefix(m.Body, "r2m-") && evt.Sender != cli.UserID:
			r2m[m.Body]++
		case strings.HasPrefix(m.Body, "m2r-") && evt.Sender == cli.UserID:
			own[m.Body]++
		default:
			continue
		}
		soakEventIDs[m.Body] = append(soakEventIDs[m.Body], evt.ID)
	}
	return r2m, own, nil
}

// soakEventIDs holds, after soakMatrixCounts, the Matrix event IDs of each soak text, to name
// the events of a failure in the report.
var soakEventIDs = map[string][]id.EventID{}

func soakTelegramCounts(history []tgtestserver.StoredMessage, from int64) map[string]int {
	out := map[string]int{}
	for _, m := range history {
		if m.From == from && strings.HasPrefix(m.Text, "m2r-") {
			out[m.Text]++
		}
	}
	return out
}

// soakMissingAndExtra lists the texts of one direction that never arrived and those that
// arrived more often than their source holds them (once, or as often as the Matrix room does).
// For Matrix → remote (source given), a text the homeserver acknowledged but never showed in
// the room is not the bridge's loss: the homeserver never delivered it to anyone (Dendrite was
// seen to rewind its internal queue after a SIGKILL); those are returned apart as unseen.
func soakMissingAndExtra(n int, prefix string, got, source map[string]int) (lost, dup, unseen []string) {
	for i := range n {
		text := fmt.Sprintf("%s-%05d", prefix, i)
		want := 1
		if source != nil {
			want = max(source[text], 1)
		}
		switch c := got[text]; {
		case c == 0 && source != nil && source[text] == 0:
			unseen = append(unseen, text)
		case c == 0:
			lost = append(lost, text)
		case c > want:
			dup = append(dup, fmt.Sprintf("%s×%d", text, c))
		}
	}
	return lost, dup, unseen
}

func head(s []string) []string {
	if len(s) > 20 {
		return append(s[:20:20], fmt.Sprintf("… %d more", len(s)-20))
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return !errors.Is(ctx.Err(), context.Canceled)
	}
}

// soakExplainCopies logs, for a message that arrived more than once, when the homeserver
// stored each copy and what the bridge logged about the remote message, so a duplicate seen
// only in CI can be traced from the test output alone.
func soakExplainCopies(ctx context.Context, t *testing.T, alice *mautrix.Client, room id.RoomID, logPath string, events []id.EventID, remoteIDs []string) {
	t.Helper()
	for _, evtID := range events {
		evt, err := alice.GetEvent(ctx, room, evtID)
		if err != nil {
			t.Logf("copy %s: %v", evtID, err)
			continue
		}
		t.Logf("copy %s: stored %s by %s, content %s", evtID,
			time.UnixMilli(evt.Timestamp).UTC().Format("15:04:05.000"), evt.Sender, evt.Content.VeryRaw)
	}
	raw, err := os.ReadFile(logPath)
	if err != nil || len(remoteIDs) == 0 {
		return
	}
	var lines []string
	for _, line := range strings.Split(string(raw), "\n") {
		for _, rid := range remoteIDs {
			if strings.Contains(line, `"`+rid+`"`) || strings.Contains(line, `"`+rid+`.`) {
				lines = append(lines, soakCondense(line))
				break
			}
		}
	}
	if len(lines) > 60 {
		lines = append(lines[:30], append([]string{"…"}, lines[len(lines)-30:]...)...)
	}
	t.Logf("bridge log lines naming %v:\n%s", remoteIDs, strings.Join(lines, "\n"))
}

// soakCondense keeps the parts of a JSON log line that tell what happened.
func soakCondense(line string) string {
	var f map[string]any
	if json.Unmarshal([]byte(line), &f) != nil {
		return line
	}
	out := fmt.Sprint(f["time"], " ", f["level"], " ", f["message"])
	for _, k := range []string{"error", "event_id", "txn_id", "status_code", "url", "remote_id"} {
		if v, ok := f[k]; ok {
			out += fmt.Sprintf(" %s=%v", k, v)
		}
	}
	return out
}
