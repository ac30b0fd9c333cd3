// Package bench measures Passerelle against its own baselines on one machine: the real bridge
// binary on PostgreSQL, a real Dendrite and the project's Telegram and WhatsApp test servers,
// all on loopback.
//
// For each network and direction it measures the bridge path and, in the same run, the two legs
// the bridge joins: a plain Matrix client sending straight to the homeserver, and the protocol
// library the bridge uses (gotd, whatsmeow) talking straight to the test server. Matrix →
// Telegram is measured twice: at the configured request pacing (network.telegram.request_rate,
// which caps it by design) and, after a restart, with pacing off. It then restarts the bridge on a database
// seeded with many portals and ghosts and measures start-up time and memory. Run it with
// `make bench` (cmd/passerelle-bench); docs/performance.md explains the figures.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// Options size a benchmark run.
type Options struct {
	// N is the number of messages per path and phase (N sent one at a time for latency, N back to
	// back for throughput). Required, at least 1.
	N int
	// Rounds splits each path's N messages into this many rounds, and each round measures every
	// path once, in order: a bridge path and its baselines are then measured alternately, minutes
	// apart at most, so a machine whose speed drifts during the run weighs on both alike. 0 means 4;
	// at most N.
	Rounds int
	// Seed is how many portals and ghosts the start-up measurement runs with.
	Seed Seed
	// Binary is a built passerelle; empty builds ./cmd/passerelle into a temporary directory.
	Binary string
	// PostgresAdminURI is where the benchmark database is created; PostgresAdminURI() when empty.
	PostgresAdminURI string
	// Progress receives one line per step; nil discards.
	Progress io.Writer
	// BridgeLog, when set, receives a copy of the bridge's log (JSON lines) at the end, to see
	// where time went (with Config "logging.min_level": "debug" for per-event lines).
	BridgeLog string
	// PostgresParams are extra query parameters of the bridge's database URI (e.g.
	// "binary_parameters=yes"), to compare lib/pq settings within one machine state.
	PostgresParams string
	// Config sets bridge config keys by dotted path (e.g. "database.max_idle_conns": 5) after the
	// benchmark's own settings, to compare a setting's effect within one machine state.
	Config map[string]any
	// Encrypted runs the bridge with end-to-bridge encryption on, as deployments have it by
	// default: the portals and the Matrix baseline's room are encrypted, and the Matrix user and
	// the baseline's sender are crypto clients (mautrix crypto, goolm) whose decrypted events are
	// what arrives. The appservice diagnostic leg is left out (it would send in clear).
	Encrypted bool
}

// Phone numbers of the benchmark's Telegram accounts on the test server.
const (
	phoneOwner   = "+33700000001" // the account the bridge logs in to
	phoneContact = "+33700000002" // scripted contact writing to / read by the bridge's account
	phoneGotd    = "+33700000003" // the baseline gotd client's account
	phonePeer    = "+33700000004" // scripted contact of the baseline client
)

const stepTimeout = 90 * time.Second

// Run starts everything, measures, and stops everything again.
func Run(ctx context.Context, opts Options) (*Results, error) {
	if opts.N < 1 {
		return nil, fmt.Errorf("bench: Options.N is %d: send at least 1 message per path", opts.N)
	}
	if opts.Seed.Portals < 0 || opts.Seed.Ghosts < 0 || opts.Seed.Portals > opts.Seed.Ghosts && opts.Seed.Ghosts > 0 {
		return nil, fmt.Errorf("bench: seed of %d portals and %d ghosts: want 0 <= portals <= ghosts (every seeded DM has its ghost)", opts.Seed.Portals, opts.Seed.Ghosts)
	}
	if opts.Progress == nil {
		opts.Progress = io.Discard
	}
	if opts.PostgresAdminURI == "" {
		opts.PostgresAdminURI = PostgresAdminURI()
	}
	r := &run{opts: opts, arr: newArrivals(), res: &Results{N: opts.N, Seed: opts.Seed, Started: time.Now().UTC(), Encrypted: opts.Encrypted}}
	r.res.Machine = ReadMachine()
	err := r.run(ctx)
	r.close()
	r.res.LoadAfter = readLoad()
	if err != nil {
		return nil, err
	}
	return r.res, nil
}

type run struct {
	opts Options
	arr  *arrivals
	res  *Results

	tg     *tgtestserver.Server
	dbURI  string
	dropDB func()
	binDir string
	br     *bridgetest.Bridge
	sync   *syncLoop
	gotd   *gotdClient
	// alice is the Matrix user of the portals; aliceCrypto her crypto client in encrypted runs.
	alice       *mautrix.Client
	aliceCrypto *hstest.CryptoUser
	cleanup     []func()

	bridgeIDValue string

	// What the bridge paths cost: CPU ticks, bridged messages, new database connections.
	bridgeTicks, bridgeSessions int64
	bridgeMessages              int
}

func (r *run) step(format string, args ...any) {
	fmt.Fprintf(r.opts.Progress, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func (r *run) close() {
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
}

func (r *run) run(ctx context.Context) error {
	owner, contact, peer, err := r.startTelegram(ctx)
	if err != nil {
		return err
	}
	wa, err := r.startWhatsApp(ctx)
	if err != nil {
		return err
	}
	if err = r.startBridge(ctx, wa); err != nil {
		return err
	}
	hs := r.br.Homeserver
	alice, aliceCrypto, err := r.matrixUser(ctx, hs, "bench-alice")
	if err != nil {
		return err
	}
	r.alice, r.aliceCrypto = alice, aliceCrypto
	waitBody := func(room id.RoomID, text string) (*event.Event, error) { return r.waitBody(ctx, room, text) }
	r.step("logging the bridge in to Telegram as %s", phoneOwner)
	mgmt, err := r.login(ctx, alice)
	if err != nil {
		return err
	}
	if r.bridgeIDValue, err = loginBridgeID(ctx, r.dbURI, string(portal.TGLoginID(owner.ID()))); err != nil {
		return err
	}
	ownerPeer := tgtestserver.UserPeer(owner.ID())
	if _, err = contact.SendText(ownerPeer, "warm-up"); err != nil {
		return fmt.Errorf("first message to the bridge's account: %w", err)
	}
	known := map[id.RoomID]bool{mgmt: true}
	portalRoom, err := joinNextInvite(ctx, alice, known, stepTimeout)
	if err != nil {
		return err
	}
	warm, err := waitBody(portalRoom, "warm-up")
	if err != nil {
		return fmt.Errorf("warm-up message in the portal: %w", err)
	}
	tgGhost := warm.Sender
	r.step("linking the bridge to WhatsApp as +%s", waOwner)
	if err = r.loginWhatsApp(ctx, alice, wa); err != nil {
		return err
	}
	if _, err = wa.contact.SendText(ctx, ownerJID(), "wa warm-up"); err != nil {
		return fmt.Errorf("first WhatsApp message to the bridge's account: %w", err)
	}
	waRoom, err := joinNextInvite(ctx, alice, known, stepTimeout)
	if err != nil {
		return err
	}
	waWarm, err := waitBody(waRoom, "wa warm-up")
	if err != nil {
		return fmt.Errorf("warm-up message in the WhatsApp portal: %w", err)
	}
	// The appservice leg (Comparison.AppService): each contact's ghost, through the bridge's
	// appservice token, straight to the homeserver, as the bridge sends (timestamp massaged).
	asSend := func(ghost id.UserID, room id.RoomID) func(ctx context.Context, text string) error {
		cli, err := mautrix.NewClient(alice.HomeserverURL.String(), ghost, r.br.Registration.AppToken)
		if err != nil {
			return func(context.Context, string) error { return err }
		}
		cli.SetAppServiceUserID = true
		return func(ctx context.Context, text string) error {
			_, err := cli.SendMessageEvent(ctx, room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: text},
				mautrix.ReqSendEvent{Timestamp: time.Now().UnixMilli()})
			return err
		}
	}

	// The Matrix baseline: another Matrix user in a room of its own with the same client
	// (encrypted like the portals when the run is).
	bob, bobCrypto, err := r.matrixUser(ctx, hs, "bench-bob")
	if err != nil {
		return err
	}
	req := &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{alice.UserID}}
	if r.opts.Encrypted {
		req.InitialState = []*event.Event{{Type: event.StateEncryption, Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}}}}
	}
	plain, err := bob.CreateRoom(ctx, req)
	if err != nil {
		return fmt.Errorf("baseline room: %w", err)
	}
	if _, err = alice.JoinRoomByID(ctx, plain.RoomID); err != nil {
		return fmt.Errorf("join the baseline room: %w", err)
	}
	if aliceCrypto != nil {
		wctx, cancel := context.WithTimeout(ctx, stepTimeout)
		err = errors.Join(aliceCrypto.WaitForEncryption(wctx, plain.RoomID), bobCrypto.WaitForEncryption(wctx, plain.RoomID))
		cancel()
		if err != nil {
			return fmt.Errorf("the baseline room is not encrypted: %w", err)
		}
		if err = decryptedArrivals(alice, r.arr); err != nil {
			return err
		}
	} else {
		if r.sync, err = startSync(ctx, alice, r.arr); err != nil {
			return err
		}
		r.cleanup = append(r.cleanup, r.sync.stop)
	}
	if r.gotd, err = startGotd(ctx, r.tg, phoneGotd, r.arr, nil); err != nil {
		return err
	}
	r.cleanup = append(r.cleanup, r.gotd.close)
	gotdID := mustActor(r.tg, phoneGotd).ID()
	toPeer := &tg.InputPeerUser{UserID: peer.ID(), AccessHash: r.tg.AccessHash(gotdID, peer.ID())}

	var tgR2M, tgM2R, waBase, tgR2MAS, waR2MAS Sample
	var tgR2MBridge, tgM2RBridge, tgM2RUnpaced, waR2MBridge, waM2RBridge Sample
	// The Matrix baseline is measured right before each bridge path, so that each comparison's
	// legs and bridge path see the same machine state (the load of a shared machine drifts
	// within minutes).
	var matrixBase [5]Sample
	matrixPath := func(name string, into *Sample) benchPath {
		return benchPath{name: name, source: sourceMatrix, into: into, send: func(ctx context.Context, text string) error {
			_, err := bob.SendText(ctx, plain.RoomID, text)
			return err
		}}
	}
	pacing, err := r.telegramPacing()
	if err != nil {
		return err
	}
	toTelegramPortal := func(ctx context.Context, text string) error {
		_, err := alice.SendText(ctx, portalRoom, text)
		return err
	}
	paths := []benchPath{
		matrixPath("r2m-matrix", &matrixBase[0]),
		{name: "r2m-telegram", source: sourceGotd, into: &tgR2M, send: func(_ context.Context, text string) error {
			_, err := peer.SendText(tgtestserver.UserPeer(gotdID), text)
			return err
		}},
		{name: "r2m-bridge", source: sourceMatrix, into: &tgR2MBridge, bridge: true, send: func(_ context.Context, text string) error {
			_, err := contact.SendText(ownerPeer, text)
			return err
		}},
		{name: "m2r-telegram", source: sourcePeer, into: &tgM2R, send: func(ctx context.Context, text string) error {
			return r.gotd.sendText(ctx, toPeer, text)
		}},
		matrixPath("m2r-matrix", &matrixBase[1]),
		{name: "m2r-bridge", source: sourceContact, into: &tgM2RBridge, bridge: true, send: toTelegramPortal},
		{name: "wa-whatsmeow", source: sourceWAPeer, into: &waBase, send: func(ctx context.Context, text string) error {
			_, err := wa.baseA.SendText(ctx, wa.baseB.JID.ToNonAD(), text)
			return err
		}},
		matrixPath("wa-r2m-matrix", &matrixBase[2]),
		{name: "wa-r2m-bridge", source: sourceMatrix, into: &waR2MBridge, bridge: true, send: func(ctx context.Context, text string) error {
			_, err := wa.contact.SendText(ctx, ownerJID(), text)
			return err
		}},
		matrixPath("wa-m2r-matrix", &matrixBase[3]),
		{name: "wa-m2r-bridge", source: sourceWAContact, into: &waM2RBridge, bridge: true, send: func(ctx context.Context, text string) error {
			_, err := alice.SendText(ctx, waRoom, text)
			return err
		}},
	}
	if !r.opts.Encrypted {
		// After the bridge path each leg belongs to (the order the rounds keep).
		paths = slices.Insert(paths, slices.IndexFunc(paths, func(p benchPath) bool { return p.name == "r2m-bridge" })+1,
			benchPath{name: "r2m-appservice", source: sourceMatrix, into: &tgR2MAS, send: asSend(tgGhost, portalRoom)})
		paths = slices.Insert(paths, slices.IndexFunc(paths, func(p benchPath) bool { return p.name == "wa-r2m-bridge" })+1,
			benchPath{name: "wa-r2m-appservice", source: sourceMatrix, into: &waR2MAS, send: asSend(waWarm.Sender, waRoom)})
	}
	if err = r.measurePaths(ctx, paths); err != nil {
		return err
	}
	if pacing.paced() {
		r.step("restarting the bridge with network.telegram.request_rate: 0 (no proactive pacing)")
		if err = r.restartWith(ctx, setting{0, []string{"network", "telegram", "request_rate"}}); err != nil {
			return err
		}
		// Also absorbs the homeserver's retry backoff for transactions it could not deliver
		// while the bridge was down.
		r.arr.expect(sourceContact, "after restart ")
		if _, err = alice.SendText(ctx, portalRoom, "after restart 0"); err != nil {
			return err
		}
		if _, err = r.arr.one(ctx, 0, stepTimeout); err != nil {
			return fmt.Errorf("first Matrix → Telegram message after the restart: %w", err)
		}
		if err = r.measurePaths(ctx, []benchPath{
			matrixPath("m2r-unpaced-matrix", &matrixBase[4]),
			{name: "m2r-bridge-unpaced", source: sourceContact, into: &tgM2RUnpaced, bridge: true, send: toTelegramPortal},
		}); err != nil {
			return err
		}
	}
	r.res.Comparisons = []Comparison{
		{Key: "r2m", Direction: "Telegram → Matrix", RemoteKey: "telegram", RemoteLabel: "test server → gotd",
			Bridge: tgR2MBridge, Matrix: matrixBase[0], Remote: tgR2M, AppService: tgR2MAS},
		{Key: "m2r", Direction: "Matrix → Telegram, pacing " + pacing.String(), RemoteKey: "telegram", RemoteLabel: "gotd → test server",
			Bridge: tgM2RBridge, Matrix: matrixBase[1], Remote: tgM2R},
	}
	if pacing.paced() {
		r.res.Comparisons = append(r.res.Comparisons, Comparison{Key: "m2r_unpaced", Direction: "Matrix → Telegram, pacing off (request_rate 0)",
			RemoteKey: "telegram", RemoteLabel: "gotd → test server", Bridge: tgM2RUnpaced, Matrix: matrixBase[4], Remote: tgM2R})
	}
	r.res.Comparisons = append(r.res.Comparisons,
		Comparison{Key: "wa_r2m", Direction: "WhatsApp → Matrix", RemoteKey: "whatsapp", RemoteLabel: "whatsmeow → test server → whatsmeow",
			Bridge: waR2MBridge, Matrix: matrixBase[2], Remote: waBase, AppService: waR2MAS},
		Comparison{Key: "wa_m2r", Direction: "Matrix → WhatsApp", RemoteKey: "whatsapp", RemoteLabel: "whatsmeow → test server → whatsmeow",
			Bridge: waM2RBridge, Matrix: matrixBase[3], Remote: waBase},
	)
	if r.bridgeMessages > 0 {
		r.res.BridgeCPUPerMessage = time.Duration(r.bridgeTicks) * time.Second / time.Duration(clockTicks) / time.Duration(r.bridgeMessages)
		r.res.DBSessionsPerMessage = float64(r.bridgeSessions) / float64(r.bridgeMessages)
	}
	pid, err := findBridgePID(r.br.ConfigPath)
	if err != nil {
		return err
	}
	if r.res.RSSAfterMessagesKB, err = procStatusKB(pid, "VmRSS"); err != nil {
		return err
	}
	return r.measureStartup(ctx, owner, contact, portalRoom)
}

// benchPath is one measured path: send puts message text in at one end, and source names the
// receiver that reports it at the other.
type benchPath struct {
	name, source string
	into         *Sample
	// bridge paths also count the bridge's CPU time and new database connections.
	bridge bool
	send   func(ctx context.Context, text string) error
}

// measurePaths runs each path's two phases, interleaved: in each of Options.Rounds rounds every
// path sends its share of the N messages, one at a time and then back to back, and the rounds'
// samples add up to each path's.
func (r *run) measurePaths(ctx context.Context, paths []benchPath) error {
	pid, err := findBridgePID(r.br.ConfigPath)
	if err != nil {
		return err
	}
	shares := roundShares(r.opts.N, r.opts.Rounds)
	for _, p := range paths {
		*p.into = Sample{}
	}
	for round, k := range shares {
		for _, p := range paths {
			r.step("measuring %s, round %d/%d: %d messages one at a time, then %d back to back", p.name, round+1, len(shares), k, k)
			before, _ := cpuTicks(pid)
			sessBefore := dbSessions(ctx, r.opts.PostgresAdminURI, r.dbURI)
			s, err := measure(ctx, r.arr, fmt.Sprintf("%s-r%d", p.name, round+1), p.source, k, p.send)
			if err != nil {
				return err
			}
			p.into.add(s)
			if p.bridge {
				after, _ := cpuTicks(pid)
				r.bridgeTicks += after - before
				r.bridgeMessages += 2 * k
				time.Sleep(time.Second) // let PostgreSQL's statistics catch up
				if sessAfter := dbSessions(ctx, r.opts.PostgresAdminURI, r.dbURI); sessBefore >= 0 && sessAfter >= 0 {
					r.bridgeSessions += sessAfter - sessBefore
				}
			}
		}
	}
	return nil
}

// roundShares splits n messages into rounds (0 means 4, at most n), the first rounds taking the
// remainder.
func roundShares(n, rounds int) []int {
	if rounds <= 0 {
		rounds = 4
	}
	rounds = max(1, min(rounds, n))
	shares := make([]int, rounds)
	for i := range shares {
		shares[i] = n / rounds
		if i < n%rounds {
			shares[i]++
		}
	}
	return shares
}

// restartWith stops the bridge, changes config keys and starts it again, waiting until both
// logins are connected.
func (r *run) restartWith(ctx context.Context, settings ...setting) error {
	if err := r.br.Stop(); err != nil {
		return err
	}
	if err := bridgetest.EditConfig(r.br.ConfigPath, func(cfg bridgetest.Config) error {
		for _, s := range settings {
			if err := cfg.Set(s.value, s.path...); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := r.br.Start(ctx); err != nil {
		return err
	}
	return waitConnected(ctx, r.br.Address, logins, stepTimeout)
}

// logins is how many logins the benchmark's bridge has: one Telegram, one WhatsApp.
const logins = 2

// telegramPacing is the request pacing the bridge runs with, read back from its config.
type telegramPacing struct{ rate, burst float64 }

func (p telegramPacing) paced() bool { return p.rate > 0 }

func (p telegramPacing) String() string {
	if !p.paced() {
		return "off (request_rate 0)"
	}
	return fmt.Sprintf("%g req/s, burst %g", p.rate, p.burst)
}

func (r *run) telegramPacing() (telegramPacing, error) {
	cfg, err := bridgetest.ReadConfig(r.br.ConfigPath)
	if err != nil {
		return telegramPacing{}, err
	}
	num := func(key string) float64 {
		switch v := cfg.Get("network", "telegram", key).(type) {
		case int:
			return float64(v)
		case float64:
			return v
		}
		return 0
	}
	return telegramPacing{rate: num("request_rate"), burst: num("request_burst")}, nil
}

// measureStartup restarts the bridge on the same database, then on one seeded with
// Options.Seed, timing each start until every login is connected, and reads its memory.
func (r *run) measureStartup(ctx context.Context, owner, contact *tgtestserver.Actor, portalRoom id.RoomID) error {
	r.step("restarting the bridge on its own database")
	d, err := r.timedStart(ctx)
	if err != nil {
		return err
	}
	r.res.StartupSmall = d
	if r.res.PortalsSmall, r.res.GhostsSmall, err = countRows(ctx, r.dbURI, r.bridgeID()); err != nil {
		return err
	}
	if err = r.br.Stop(); err != nil {
		return err
	}
	r.step("seeding %d portals and %d ghosts", r.opts.Seed.Portals, r.opts.Seed.Ghosts)
	if err = seedRows(ctx, r.dbURI, r.bridgeID(), string(portal.TGLoginID(owner.ID())), r.opts.Seed); err != nil {
		return err
	}
	if r.res.Portals, r.res.Ghosts, err = countRows(ctx, r.dbURI, r.bridgeID()); err != nil {
		return err
	}
	r.step("starting the bridge with %d portals and %d ghosts", r.res.Portals, r.res.Ghosts)
	if r.res.StartupSeeded, err = r.timedStart(ctx); err != nil {
		return err
	}
	pid, err := findBridgePID(r.br.ConfigPath)
	if err != nil {
		return err
	}
	if r.res.RSSAtConnectedKB, err = procStatusKB(pid, "VmRSS"); err != nil {
		return err
	}
	// Still bridging after the seeded start, and memory once the first message went through.
	if _, err = contact.SendText(tgtestserver.UserPeer(owner.ID()), "after seeded start"); err != nil {
		return err
	}
	if _, err = r.waitBody(ctx, portalRoom, "after seeded start"); err != nil {
		return fmt.Errorf("bridge after the seeded start: %w", err)
	}
	time.Sleep(5 * time.Second)
	if r.res.RSSSeededKB, err = procStatusKB(pid, "VmRSS"); err != nil {
		return err
	}
	r.res.HWMSeededKB, err = procStatusKB(pid, "VmHWM")
	return err
}

// timedStart stops nothing: it starts the (stopped or running) bridge and returns the time from
// launching the process until every login reports CONNECTED.
func (r *run) timedStart(ctx context.Context) (time.Duration, error) {
	if err := r.br.Stop(); err != nil {
		return 0, err
	}
	t0 := time.Now()
	if err := r.br.Start(ctx); err != nil {
		return 0, err
	}
	if err := waitConnected(ctx, r.br.Address, logins, stepTimeout); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

// bridgeID is the bridge_id the running bridge writes, read from its login row: mxmain (v0.32)
// passes "" to bridgev2.NewBridge, not appservice.id, so rows seeded under the appservice ID
// would be invisible to the bridge.
func (r *run) bridgeID() string { return r.bridgeIDValue }

// Scripted receivers at the test server.
const (
	sourceContact = "tg-contact" // the bridge's Telegram contact (Matrix → remote, bridge path)
	sourcePeer    = "tg-peer"    // the baseline gotd client's contact (Matrix → remote, baseline)
)

func (r *run) startTelegram(ctx context.Context) (owner, contact, peer *tgtestserver.Actor, err error) {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: zerolog.New(os.Stderr).Level(zerolog.ErrorLevel)})
	if err != nil {
		return nil, nil, nil, err
	}
	if err = srv.Start(context.WithoutCancel(ctx)); err != nil {
		return nil, nil, nil, err
	}
	r.tg = srv
	r.cleanup = append(r.cleanup, func() { _ = srv.Close() })
	specs := []tgtestserver.UserSpec{
		{Phone: phoneOwner, FirstName: "Bench", LastName: "Owner"},
		{Phone: phoneContact, FirstName: "Bench", LastName: "Contact"},
		{Phone: phoneGotd, FirstName: "Baseline", LastName: "Client"},
		{Phone: phonePeer, FirstName: "Baseline", LastName: "Peer"},
	}
	actors := make([]*tgtestserver.Actor, len(specs))
	for i, spec := range specs {
		if actors[i], err = srv.CreateUser(spec); err != nil {
			return nil, nil, nil, fmt.Errorf("test server account %s: %w", spec.Phone, err)
		}
	}
	_ = actors[0].AddContact(actors[1].ID())
	_ = actors[1].AddContact(actors[0].ID())
	_ = actors[2].AddContact(actors[3].ID())
	_ = actors[3].AddContact(actors[2].ID())
	arr := r.arr
	srv.SetResponder(actors[1].ID(), func(_ *tgtestserver.Actor, in tgtestserver.Incoming) {
		arr.seen(sourceContact, in.Text, time.Now())
	})
	srv.SetResponder(actors[3].ID(), func(_ *tgtestserver.Actor, in tgtestserver.Incoming) {
		arr.seen(sourcePeer, in.Text, time.Now())
	})
	return actors[0], actors[1], actors[3], nil
}

func (r *run) startBridge(ctx context.Context, wa *waSide) error {
	binary := r.opts.Binary
	if binary == "" {
		dir, err := os.MkdirTemp("", "passerelle-bench-bin-")
		if err != nil {
			return err
		}
		r.cleanup = append(r.cleanup, func() { _ = os.RemoveAll(dir) })
		r.step("building ./cmd/passerelle")
		if binary, err = bridgetest.BuildBinary(ctx, dir); err != nil {
			return err
		}
	}
	uri, drop, err := createDatabase(ctx, r.opts.PostgresAdminURI)
	if err != nil {
		return err
	}
	r.dbURI = uri
	r.cleanup = append(r.cleanup, drop)
	bridgeURI := uri
	if r.opts.PostgresParams != "" {
		sep := "?"
		if strings.Contains(uri, "?") {
			sep = "&"
		}
		bridgeURI += sep + r.opts.PostgresParams
	}
	r.step("starting Dendrite and the bridge (PostgreSQL database %s)", dbName(uri))
	srv := r.tg
	r.br, err = bridgetest.Launch(ctx, bridgetest.Options{
		Binary:            binary,
		Engine:            "postgres",
		DatabaseURI:       bridgeURI,
		DisableEncryption: !r.opts.Encrypted,
		LogLevel:          "info",
		Edit: func(cfg bridgetest.Config) error {
			keys := []any{}
			for _, k := range srv.PublicKeysPEM() {
				keys = append(keys, k)
			}
			for _, s := range append([]setting{
				{true, []string{"network", "telegram", "enabled"}},
				{telegramAPIID, []string{"network", "telegram", "api_id"}},
				{telegramAPIHash, []string{"network", "telegram", "api_hash"}},
				{srv.DC(), []string{"network", "telegram", "server", "dc"}},
				{[]any{map[string]any{"id": srv.DC(), "address": srv.Addr()}}, []string{"network", "telegram", "server", "dc_options"}},
				{keys, []string{"network", "telegram", "server", "public_keys"}},
			}, wa.bridgeSettings()...) {
				if err := cfg.Set(s.value, s.path...); err != nil {
					return err
				}
			}
			for key, value := range r.opts.Config {
				if err := cfg.Set(value, strings.Split(key, ".")...); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil {
		return err
	}
	r.cleanup = append(r.cleanup, func() {
		if r.opts.BridgeLog != "" {
			if raw, err := os.ReadFile(r.br.LogPath); err == nil {
				_ = os.WriteFile(r.opts.BridgeLog, raw, 0o600)
			}
		}
		_ = r.br.Close()
	})
	return nil
}

// login opens a management room with the bot and runs `login telegram-phone` in it.
func (r *run) login(ctx context.Context, cli *mautrix.Client) (id.RoomID, error) {
	b := r.br
	resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{b.Bot}})
	if err != nil {
		return "", fmt.Errorf("open a DM with the bot: %w", err)
	}
	room := resp.RoomID
	fromBot := func(prefix string) func(*event.Event) bool {
		return func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == b.Bot && m != nil && (prefix == "" || len(m.Body) >= len(prefix) && m.Body[:len(prefix)] == prefix)
		}
	}
	if _, err = bridgetest.WaitForEvent(ctx, cli, room, "", fromBot("")); err != nil {
		return "", fmt.Errorf("bot welcome: %w", err)
	}
	answers := []func() (string, error){
		func() (string, error) { return phoneOwner, nil },
		func() (string, error) {
			code, ok := r.tg.LastCode(phoneOwner)
			if !ok {
				return "", errors.New("the test server sent no login code")
			}
			return code, nil
		},
	}
	sent, err := cli.SendText(ctx, room, "login telegram-phone")
	if err != nil {
		return "", err
	}
	for _, answer := range answers {
		if _, err = bridgetest.WaitForEvent(ctx, cli, room, sent.EventID, fromBot("Please enter")); err != nil {
			return "", fmt.Errorf("login prompt: %w", err)
		}
		text, err := answer()
		if err != nil {
			return "", err
		}
		if sent, err = cli.SendText(ctx, room, text); err != nil {
			return "", err
		}
	}
	reply, err := bridgetest.WaitForEvent(ctx, cli, room, sent.EventID, fromBot(""))
	if err != nil {
		return "", fmt.Errorf("login result: %w", err)
	}
	if body := reply.Content.AsMessage().Body; !containsFold(body, "logged in") {
		return "", fmt.Errorf("login did not finish: the bot said %q", body)
	}
	return room, nil
}

func bodyIs(text string) func(*event.Event) bool {
	return func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return m != nil && m.Body == text
	}
}

func mustActor(srv *tgtestserver.Server, phone string) *tgtestserver.Actor {
	a, _ := srv.ActorByPhone(phone)
	return a
}

func dbName(uri string) string {
	u, err := url.Parse(uri)
	if err != nil {
		return "?"
	}
	return path.Base(u.Path)
}

// waitBody waits for a message with that text in room as the portals' user sees it: decrypted
// when the run is encrypted.
func (r *run) waitBody(ctx context.Context, room id.RoomID, text string) (*event.Event, error) {
	if r.aliceCrypto == nil {
		return bridgetest.WaitForEvent(ctx, r.alice, room, "", bodyIs(text))
	}
	wctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := r.aliceCrypto.WaitForEncryption(wctx, room); err != nil {
		return nil, fmt.Errorf("%s is not encrypted: %w", room, err)
	}
	return r.aliceCrypto.WaitForEvent(wctx, room, "", bodyIs(text))
}

// matrixUser registers a Matrix user of the benchmark: a crypto client (returned too) when the
// run is encrypted, else a plain client.
func (r *run) matrixUser(ctx context.Context, hs *hstest.Homeserver, localpart string) (*mautrix.Client, *hstest.CryptoUser, error) {
	if !r.opts.Encrypted {
		cli, err := hs.RegisterUser(ctx, localpart, hstest.Password(localpart))
		return cli, nil, err
	}
	dir, err := os.MkdirTemp("", "passerelle-bench-crypto-")
	if err != nil {
		return nil, nil, err
	}
	u, err := hs.StartCryptoUser(ctx, localpart, filepath.Join(dir, "crypto.db"))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, nil, err
	}
	r.cleanup = append(r.cleanup, func() { u.Close(); _ = os.RemoveAll(dir) })
	return u.Client, u, nil
}
