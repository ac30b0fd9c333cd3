package importer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/configupgrade"
	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/bridgeconfig"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/matrix"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/portal"
)

// The engine is tested in-process on a real bridgev2 bridge (real appservice connector, real
// database) against a real Dendrite. The network side is a minimal connector: the importer never
// talks to WhatsApp or Telegram, it only needs logins (for receivers, self-identity and contacts)
// and a NetworkAPI for bridgev2's room creation; the real connectors are tested in their packages.

// harness is a running bridge with the importer registered.
type harness struct {
	t   testing.TB
	ctx context.Context
	hs  *hstest.Homeserver
	br  *bridgev2.Bridge
	mc  *matrix.Connector
	im  *Importer
	net *testNetwork
	// base is the bridge's HTTP listener (appservice API, provisioning, import endpoint).
	base string
}

const harnessTemplate = "imptest_{{.}}"

// newHarness starts a homeserver and a bridge with the importer; tune adjusts the homeserver's
// options (the benchmark puts its data on a tmpfs).
func newHarness(t testing.TB, engine string, tune ...func(*hstest.Options)) *harness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	db := dbtest.Open(t, engine)
	port, err := hstest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	secret := make([]byte, 16)
	_, _ = rand.Read(secret)
	cfgText := fmt.Sprintf(`
homeserver: {address: "http://127.0.0.1:1", domain: localhost, software: standard}
appservice:
  address: http://127.0.0.1:%[1]d
  hostname: 127.0.0.1
  port: %[1]d
  id: passerelle-import-test
  bot: {username: importbot, displayname: Import bot}
  username_template: %[2]q
bridge:
  command_prefix: "!imp"
  permissions: {"localhost": user}
provisioning: {shared_secret: %[3]q}
encryption: {allow: false}
backfill: {enabled: false}
`, port, harnessTemplate, hex.EncodeToString(secret))
	var cfg bridgeconfig.Config
	if err = yaml.Unmarshal([]byte(cfgText), &cfg); err != nil {
		t.Fatal(err)
	}
	reg := cfg.GenerateRegistration()
	regPath := filepath.Join(t.TempDir(), "registration.yaml")
	if err = reg.Save(regPath); err != nil {
		t.Fatal(err)
	}
	// Double puppeting the way operators set it up for homeservers without a shared-secret
	// module: a second registration whose non-exclusive namespace covers the users ("dp-*"
	// here, so that other tests keep sending the importer's own messages as ghosts), and its
	// as_token in double_puppet.secrets.
	dpReg := appservice.CreateRegistration()
	dpReg.ID, dpReg.SenderLocalpart, dpReg.URL = "doublepuppet", "doublepuppetbot", ""
	dpReg.Namespaces.UserIDs.Register(regexp.MustCompile(`@dp-.*:localhost`), false)
	dpPath := filepath.Join(filepath.Dir(regPath), "doublepuppet.yaml")
	if err = dpReg.Save(dpPath); err != nil {
		t.Fatal(err)
	}
	cfg.DoublePuppet.Secrets = map[string]string{"localhost": "as_token:" + dpReg.AppToken}
	hsOpts := hstest.Options{AppServices: []string{regPath, dpPath}}
	for _, f := range tune {
		f(&hsOpts)
	}
	hs := hstest.New(t, hsOpts)
	cfg.Homeserver.Address = hs.URL
	log := zerolog.Nop()
	if os.Getenv("IMPORT_TEST_LOG") != "" {
		log = zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.DebugLevel)
	}
	mc := matrix.NewConnector(&cfg)
	mc.IgnoreUnsupportedServer = true
	tn := &testNetwork{contacts: map[networkid.UserLoginID][]*bridgev2.ResolveIdentifierResponse{}}
	br := bridgev2.NewBridge("", db, log, &cfg.Bridge, mc, tn, commands.NewProcessor)
	br.ExternallyManagedDB = true
	if err = br.DB.Upgrade(ctx); err != nil {
		t.Fatal(err)
	}
	im := RegisterCommands(br)
	if again := RegisterCommands(br); again != im {
		t.Fatal("RegisterCommands twice gave two importers")
	}
	if err = br.Start(ctx); err != nil {
		t.Fatalf("start bridge: %v", err)
	}
	t.Cleanup(func() { br.StopWithTimeout(10 * time.Second) })
	return &harness{t: t, ctx: ctx, hs: hs, br: br, mc: mc, im: im, net: tn, base: cfg.AppService.Address}
}

// ghostMXID is the Matrix ID of a ghost of this bridge.
func ghostMXID(ghost networkid.UserID) id.UserID {
	return hstest.UserID(strings.ReplaceAll(harnessTemplate, "{{.}}", id.EncodeUserLocalpart(string(ghost))))
}

// newUser registers a Matrix user and returns its client and bridge user.
func (h *harness) newUser(prefix string) (*mautrix.Client, *bridgev2.User) {
	h.t.Helper()
	cli := h.hs.NewUser(h.t, hstest.UniqueLocalpart(prefix))
	u, err := h.br.GetUserByMXID(h.ctx, cli.UserID)
	if err != nil || u == nil {
		h.t.Fatalf("bridge user %s: %v", cli.UserID, err)
	}
	return cli, u
}

// login gives u a login of the test network (ID with a wa./tg. prefix, as the real connectors'),
// with contacts for WhatsApp matching.
func (h *harness) login(u *bridgev2.User, loginID networkid.UserLoginID, remoteName string, contacts ...*bridgev2.ResolveIdentifierResponse) *bridgev2.UserLogin {
	h.t.Helper()
	h.net.contacts[loginID] = contacts
	ul, err := u.NewLogin(h.ctx, &database.UserLogin{ID: loginID, RemoteName: remoteName, Metadata: &portal.LoginMeta{}}, nil)
	if err != nil {
		h.t.Fatalf("new login %s: %v", loginID, err)
	}
	return ul
}

// timeline reads a room's messages (no state), oldest first, once at least want are visible.
func timeline(t testing.TB, cli *mautrix.Client, room id.RoomID, want int) []*event.Event {
	t.Helper()
	ctx := context.Background()
	if _, err := cli.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("%s joins %s: %v", cli.UserID, room, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 1000)
		if err != nil {
			t.Fatalf("read %s: %v", room, err)
		}
		var out []*event.Event
		for i := len(resp.Chunk) - 1; i >= 0; i-- {
			evt := resp.Chunk[i]
			if evt.StateKey != nil {
				continue
			}
			_ = evt.Content.ParseRaw(evt.Type)
			out = append(out, evt)
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// testNetwork is the network side of the harness.
type testNetwork struct {
	br       *bridgev2.Bridge
	contacts map[networkid.UserLoginID][]*bridgev2.ResolveIdentifierResponse
}

func (n *testNetwork) Init(br *bridgev2.Bridge)           { n.br = br }
func (n *testNetwork) Start(context.Context) error        { return nil }
func (n *testNetwork) GetDBMetaTypes() database.MetaTypes { return portal.MetaTypes() }
func (n *testNetwork) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{DisplayName: "Passerelle test", NetworkURL: "https://example.org", NetworkID: "passerelle", BeeperBridgeType: "passerelle"}
}
func (n *testNetwork) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	return &bridgev2.NetworkGeneralCapabilities{}
}
func (n *testNetwork) GetConfig() (string, any, configupgrade.Upgrader) { return "", nil, nil }
func (n *testNetwork) GetLoginFlows() []bridgev2.LoginFlow              { return nil }
func (n *testNetwork) CreateLogin(context.Context, *bridgev2.User, string) (bridgev2.LoginProcess, error) {
	return nil, fmt.Errorf("no logins in the test network")
}
func (n *testNetwork) GetBridgeInfoVersion() (int, int) { return 1, 1 }
func (n *testNetwork) LoadUserLogin(_ context.Context, login *bridgev2.UserLogin) error {
	login.Client = &testClient{login: login, net: n}
	return nil
}

type testClient struct {
	login *bridgev2.UserLogin
	net   *testNetwork
}

var _ bridgev2.ContactListingNetworkAPI = (*testClient)(nil)

func (c *testClient) Connect(context.Context)      {}
func (c *testClient) Disconnect()                  {}
func (c *testClient) IsLoggedIn() bool             { return true }
func (c *testClient) LogoutRemote(context.Context) {}
func (c *testClient) IsThisUser(_ context.Context, userID networkid.UserID) bool {
	return string(userID) == string(c.login.ID)
}
func (c *testClient) GetChatInfo(context.Context, *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
	return nil, fmt.Errorf("the test network has no chats")
}
func (c *testClient) GetUserInfo(context.Context, *bridgev2.Ghost) (*bridgev2.UserInfo, error) {
	return nil, nil
}
func (c *testClient) GetCapabilities(context.Context, *bridgev2.Portal) *event.RoomFeatures {
	return &event.RoomFeatures{}
}
func (c *testClient) HandleMatrixMessage(context.Context, *bridgev2.MatrixMessage) (*bridgev2.MatrixMessageResponse, error) {
	return nil, fmt.Errorf("the test network does not send")
}
func (c *testClient) GetContactList(context.Context) ([]*bridgev2.ResolveIdentifierResponse, error) {
	return c.net.contacts[c.login.ID], nil
}
