package whatsapp

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/bridgeconfig"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/bridgev2/status"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// harness is a bridgev2 bridge with this connector, configured like an operator would
// (proxy, root key and CA file) to reach a WhatsApp test server on loopback.
type harness struct {
	t      *testing.T
	ctx    context.Context
	srv    *watestserver.Server
	db     *dbutil.Database
	wa     *Connector
	mx     *recordingMatrix
	br     *bridgev2.Bridge
	caFile string
	log    zerolog.Logger
}

// sharedServer is the one WhatsApp test server of this package's tests. One server means one
// root key, so whatsmeow's process-wide WACertPubKey stays the same and tests can run in
// parallel; each test uses phone numbers of its own (nextPhone).
var sharedServer *watestserver.Server

func TestMain(m *testing.M) {
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start WhatsApp test server:", err)
		os.Exit(1)
	}
	restore := srv.TrustRoot()
	sharedServer = srv
	code := m.Run()
	srv.Close()
	restore()
	os.Exit(code)
}

var phoneCounter atomic.Int64

// nextPhone returns a phone number no other test of this run uses.
func nextPhone() string {
	return fmt.Sprintf("3361%07d", phoneCounter.Add(1))
}

func newHarness(t *testing.T, db *dbutil.Database) *harness {
	t.Helper()
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	t.Cleanup(cancel)
	// The bridge's log goes to the test's output with WA_TEST_LOG set; otherwise its info lines
	// and above are kept and shown only if the test fails, so a failure in CI explains itself.
	var log zerolog.Logger
	if os.Getenv("WA_TEST_LOG") != "" {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	} else {
		kept := &keptLog{}
		log = zerolog.New(kept).Level(zerolog.InfoLevel).With().Timestamp().Logger()
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("bridge log (info and above; WA_TEST_LOG=1 for all of it):\n%s", kept.String())
			}
		})
	}
	h := &harness{t: t, ctx: ctx, srv: sharedServer, db: db, log: log}
	h.caFile = filepath.Join(t.TempDir(), "wa-ca.pem")
	if err := h.srv.WriteCAFile(h.caFile); err != nil {
		t.Fatal(err)
	}
	h.start()
	return h
}

// start builds and starts a bridge on the harness database (again after stop, as a restart).
func (h *harness) start() {
	h.t.Helper()
	h.wa = NewConnector()
	h.wa.Config = Config{
		Enabled: true,
		Proxy:   h.srv.ProxyURL(),
		Server:  ServerConfig{RootPublicKey: h.srv.RootPublicKeyBase64(), CAFile: h.caFile},
	}
	h.wa.VersionFetchTimeout = 2 * time.Second
	if err := h.wa.ValidateConfig(); err != nil {
		h.t.Fatalf("config: %v", err)
	}
	h.mx = newRecordingMatrix()
	cfg := &bridgeconfig.BridgeConfig{
		CommandPrefix: "!wa",
		Permissions:   bridgeconfig.PermissionConfig{"*": &bridgeconfig.PermissionLevelAdmin},
		Backfill:      bridgeconfig.BackfillConfig{Enabled: true, MaxInitialMessages: 2, MaxCatchupMessages: 10},
	}
	h.br = bridgev2.NewBridge("passerelle", h.db, h.log, cfg, h.mx, h.wa, commands.NewProcessor)
	// The test owns the database so that a restart (a new Bridge) reuses it instead of closing it.
	h.br.ExternallyManagedDB = true
	if err := h.br.DB.Upgrade(h.ctx); err != nil {
		h.t.Fatalf("upgrade bridge database: %v", err)
	}
	if err := h.br.Start(h.ctx); err != nil {
		h.t.Fatalf("start bridge: %v", err)
	}
	h.t.Cleanup(h.stop)
}

func (h *harness) stop() {
	if h.br != nil {
		h.br.StopWithTimeout(5 * time.Second)
		h.br = nil
	}
}

// restart stops the bridge and starts a new one on the same database, as a process restart.
func (h *harness) restart() {
	h.t.Helper()
	h.stop()
	h.start()
}

func (h *harness) user(mxid id.UserID) *bridgev2.User {
	h.t.Helper()
	u, err := h.br.GetUserByMXID(h.ctx, mxid)
	if err != nil || u == nil {
		h.t.Fatalf("get user %s: %v", mxid, err)
	}
	return u
}

// loginQR links a new device for phone through the QR flow, scanning each QR the bridge shows
// with the test server as the phone does.
func (h *harness) loginQR(u *bridgev2.User, phone string) *bridgev2.UserLogin {
	h.t.Helper()
	proc, err := h.wa.CreateLogin(h.ctx, u, FlowQR)
	if err != nil {
		h.t.Fatalf("create QR login: %v", err)
	}
	step, err := proc.Start(h.ctx)
	if err != nil {
		h.t.Fatalf("start QR login: %v", err)
	}
	if step.Type != bridgev2.LoginStepTypeDisplayAndWait || step.DisplayAndWaitParams.Type != bridgev2.LoginDisplayTypeQR || step.DisplayAndWaitParams.Data == "" {
		h.t.Fatalf("first step = %+v, want a QR code to display", step)
	}
	scanned := make(chan error, 1)
	go func() {
		_, err := h.srv.ScanQR(h.ctx, phone, step.DisplayAndWaitParams.Data)
		scanned <- err
	}()
	final, err := proc.(bridgev2.LoginProcessDisplayAndWait).Wait(h.ctx)
	if err != nil {
		h.t.Fatalf("wait for QR login: %v", err)
	}
	if err = <-scanned; err != nil {
		h.t.Fatalf("scan QR: %v", err)
	}
	return h.checkComplete(final, phone)
}

func (h *harness) checkComplete(final *bridgev2.LoginStep, phone string) *bridgev2.UserLogin {
	h.t.Helper()
	if final.Type != bridgev2.LoginStepTypeComplete || final.CompleteParams == nil || final.CompleteParams.UserLogin == nil {
		h.t.Fatalf("final step = %+v, want complete", final)
	}
	if final.Instructions == "" {
		h.t.Error("final login step has no Instructions: bridgev2 would not tell the user they are logged in")
	}
	ul := final.CompleteParams.UserLogin
	if want := portal.WALoginID(types.NewJID(phone, types.DefaultUserServer)); ul.ID != want {
		h.t.Fatalf("login ID = %s, want %s", ul.ID, want)
	}
	h.mx.waitState(h.t, ul.ID, status.StateConnected, "")
	return ul
}

// matrixEvent injects an event from a Matrix user as the homeserver would deliver it.
func (h *harness) matrixEvent(sender id.UserID, room id.RoomID, typ event.Type, content any) id.EventID {
	h.t.Helper()
	raw, err := json.Marshal(content)
	if err != nil {
		h.t.Fatal(err)
	}
	evtID := id.EventID("$mx" + time.Now().Format("150405.000000000"))
	evt := &event.Event{Sender: sender, Type: typ, RoomID: room, ID: evtID, Timestamp: time.Now().UnixMilli(), Content: event.Content{VeryRaw: raw}}
	if typ.IsState() {
		empty := ""
		evt.StateKey = &empty
	}
	if err = evt.Content.ParseRaw(typ); err != nil {
		h.t.Fatalf("parse %s content: %v", typ.Type, err)
	}
	if typ == event.EventRedaction {
		evt.Redacts = evt.Content.AsRedaction().Redacts
	}
	res := h.br.QueueMatrixEvent(h.ctx, evt)
	if !res.Success {
		h.t.Fatalf("Matrix event %s not handled: %v", typ.Type, res.Error)
	}
	return evtID
}

// matrixEventAllowFail is matrixEvent for events the bridge is expected to refuse.
func (h *harness) matrixEventAllowFail(sender id.UserID, room id.RoomID, typ event.Type, content any) {
	h.t.Helper()
	raw, _ := json.Marshal(content)
	evt := &event.Event{Sender: sender, Type: typ, RoomID: room, ID: id.EventID("$mx" + time.Now().Format("150405.000000000")),
		Timestamp: time.Now().UnixMilli(), Content: event.Content{VeryRaw: raw}}
	if typ.IsState() {
		empty := ""
		evt.StateKey = &empty
	}
	_ = evt.Content.ParseRaw(typ)
	h.br.QueueMatrixEvent(h.ctx, evt)
}

// portalRoom returns the room of a chat for a login, failing when it was not created.
func (h *harness) portalRoom(login *bridgev2.UserLogin, chat types.JID) id.RoomID {
	h.t.Helper()
	c := login.Client.(*Client)
	p, err := h.br.GetExistingPortalByKey(h.ctx, c.portalKey(chat))
	if err != nil || p == nil || p.MXID == "" {
		h.t.Fatalf("no portal room for %s: %v", chat, err)
	}
	return p.MXID
}

// matrixMember injects a membership change of target by sender, with the previous membership
// bridgev2 compares against.
func (h *harness) matrixMember(sender id.UserID, room id.RoomID, target id.UserID, membership event.Membership) {
	h.t.Helper()
	raw, _ := json.Marshal(&event.MemberEventContent{Membership: membership})
	prev := event.MembershipJoin
	if membership == event.MembershipInvite {
		prev = event.MembershipLeave
	}
	prevRaw, _ := json.Marshal(&event.MemberEventContent{Membership: prev})
	stateKey := target.String()
	evt := &event.Event{Sender: sender, Type: event.StateMember, RoomID: room, StateKey: &stateKey,
		ID: id.EventID("$mx" + time.Now().Format("150405.000000000")), Timestamp: time.Now().UnixMilli(),
		Content: event.Content{VeryRaw: raw}, Unsigned: event.Unsigned{PrevContent: &event.Content{VeryRaw: prevRaw}}}
	_ = evt.Content.ParseRaw(evt.Type)
	_ = evt.Unsigned.PrevContent.ParseRaw(evt.Type)
	if res := h.br.QueueMatrixEvent(h.ctx, evt); !res.Success {
		h.t.Fatalf("membership %s of %s not handled: %v", membership, target, res.Error)
	}
}

// forEachDB runs fn on each database engine, in parallel with the other connector tests
// (newHarness marks the engine subtests parallel too).
func forEachDB(t *testing.T, fn func(t *testing.T, db *dbutil.Database)) {
	t.Parallel()
	dbtest.ForEach(t, fn)
}

// matrixStateChange injects a state event with its previous content, as homeservers send it.
func (h *harness) matrixStateChange(sender id.UserID, room id.RoomID, typ event.Type, content, prev any) {
	h.t.Helper()
	raw, _ := json.Marshal(content)
	prevRaw, _ := json.Marshal(prev)
	empty := ""
	evt := &event.Event{Sender: sender, Type: typ, RoomID: room, StateKey: &empty,
		ID: id.EventID("$mx" + time.Now().Format("150405.000000000")), Timestamp: time.Now().UnixMilli(),
		Content: event.Content{VeryRaw: raw}, Unsigned: event.Unsigned{PrevContent: &event.Content{VeryRaw: prevRaw}}}
	_ = evt.Content.ParseRaw(typ)
	_ = evt.Unsigned.PrevContent.ParseRaw(typ)
	if res := h.br.QueueMatrixEvent(h.ctx, evt); !res.Success {
		h.t.Fatalf("%s change not handled: %v", typ.Type, res.Error)
	}
}

// keptLog holds the last keptLogLimit bytes of a test's log lines.
type keptLog struct {
	mu  sync.Mutex
	buf []byte
}

const keptLogLimit = 64 << 10

func (k *keptLog) Write(p []byte) (int, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.buf = append(k.buf, p...)
	if over := len(k.buf) - keptLogLimit; over > 0 {
		k.buf = append(k.buf[:0], k.buf[over:]...)
	}
	return len(p), nil
}

func (k *keptLog) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return string(k.buf)
}
