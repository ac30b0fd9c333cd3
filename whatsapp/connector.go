// Package whatsapp is Passerelle's WhatsApp network connector, built on whatsmeow.
package whatsapp

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"
	up "go.mau.fi/util/configupgrade"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/devicestore"
)

// Connector is the WhatsApp half of the composite connector in package bridge.
type Connector struct {
	Bridge *bridgev2.Bridge
	Config Config
	// Devices keeps whatsmeow's device state in the bridge database; set by Start.
	Devices *devicestore.Container

	// VersionFetchTimeout bounds the WhatsApp Web version lookup at start (default 10 s).
	VersionFetchTimeout time.Duration

	// started is closed when Start finished (startErr says how); logins wait for it, because
	// the provisioning API may already take requests while the network connector starts.
	started  chan struct{}
	startErr error

	// versionHTTP replaces the client of the version lookup (tests).
	versionHTTP *http.Client
}

var _ bridgev2.NetworkConnector = (*Connector)(nil)

// NewConnector returns a connector with the example config's defaults.
func NewConnector() *Connector {
	return &Connector{Config: Config{Enabled: true}}
}

// Network is the ID prefix of everything this connector owns.
func (wa *Connector) Network() portal.Network { return portal.WhatsApp }

func (wa *Connector) Init(br *bridgev2.Bridge) {
	wa.Bridge = br
	wa.started = make(chan struct{})
}

// waitStarted waits until Start finished and reports its error.
func (wa *Connector) waitStarted(ctx context.Context) error {
	if wa.started == nil {
		return fmt.Errorf("the WhatsApp connector was not initialised")
	}
	select {
	case <-wa.started:
		if wa.startErr != nil {
			return fmt.Errorf("the WhatsApp connector failed to start: %w", wa.startErr)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the WhatsApp connector to start: %w", ctx.Err())
	}
}

// rootKeyMu serialises changes of whatsmeow's process-wide WACertPubKey.
var rootKeyMu sync.Mutex

// Start prepares the device store, applies the server settings and learns the current WhatsApp
// Web version, so an old whatsmeow version is not refused by WhatsApp. Being offline is not an
// error: the built-in version is kept and logins reconnect when the network returns.
func (wa *Connector) Start(ctx context.Context) (err error) {
	if wa.started == nil {
		wa.started = make(chan struct{})
	}
	defer func() {
		wa.startErr = err
		close(wa.started)
	}()
	log := zerolog.Ctx(ctx).With().Str("network", "whatsapp").Logger()
	if wa.Bridge != nil && wa.Bridge.DB != nil {
		wa.Devices = devicestore.New(wa.Bridge.DB.Database, log)
		if err := wa.Devices.Upgrade(ctx); err != nil {
			return fmt.Errorf("start WhatsApp: %w", err)
		}
	}
	if err := wa.applyRootKey(); err != nil {
		return fmt.Errorf("start WhatsApp: %w", err)
	}
	wa.fetchVersion(ctx, log)
	return nil
}

// applyRootKey replaces whatsmeow's trusted Noise root when server.root_public_key is set.
func (wa *Connector) applyRootKey() error {
	key, err := wa.Config.RootPublicKey()
	if err != nil || key == nil {
		return err
	}
	rootKeyMu.Lock()
	defer rootKeyMu.Unlock()
	// whatsmeow reads the key without a lock during handshakes: write only when it changes.
	if whatsmeow.WACertPubKey != *key {
		whatsmeow.WACertPubKey = *key
	}
	return nil
}

// fetchVersion asks web.whatsapp.com for the current client revision, through the same proxy and
// TLS roots as the clients.
func (wa *Connector) fetchVersion(ctx context.Context, log zerolog.Logger) {
	timeout := wa.VersionFetchTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	transport, err := wa.Config.Transport()
	if err != nil {
		log.Warn().Err(err).Msg("Not fetching the WhatsApp Web version: bad transport settings")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	client := &http.Client{Transport: transport, Timeout: timeout}
	if wa.versionHTTP != nil {
		client = wa.versionHTTP
	}
	version, err := whatsmeow.GetLatestVersion(ctx, client)
	if err != nil {
		log.Warn().Err(err).Stringer("builtin_version", store.GetWAVersion()).
			Msg("Could not fetch the current WhatsApp Web version; keeping the built-in one")
		return
	}
	store.SetWAVersion(*version)
	log.Info().Stringer("version", version).Msg("Using the current WhatsApp Web version")
}

func (wa *Connector) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{
		DisplayName:      "WhatsApp",
		NetworkURL:       "https://whatsapp.com",
		NetworkID:        "whatsapp",
		BeeperBridgeType: "whatsapp",
		DefaultPort:      29318,
	}
}

// GetDBMetaTypes is never used: the composite connector registers the shared holders of package portal.
func (wa *Connector) GetDBMetaTypes() database.MetaTypes { return portal.MetaTypes() }

func (wa *Connector) GetConfig() (string, any, up.Upgrader) {
	return ExampleConfig, &wa.Config, up.SimpleUpgrader(wa.Config.Upgrade)
}

func (wa *Connector) ValidateConfig() error { return wa.Config.Validate() }

func (wa *Connector) GetBridgeInfoVersion() (info, capabilities int) { return 1, 1 }

// Login flow IDs; the composite connector routes CreateLogin by them.
const (
	FlowQR    = "whatsapp-qr"
	FlowPhone = "whatsapp-phone"
)

func (wa *Connector) GetLoginFlows() []bridgev2.LoginFlow {
	return []bridgev2.LoginFlow{{
		Name:        "WhatsApp: QR code",
		Description: "Link Passerelle as a device by scanning a QR code with WhatsApp on your phone (Settings → Linked devices).",
		ID:          FlowQR,
	}, {
		Name:        "WhatsApp: pairing code",
		Description: "Link Passerelle as a device by typing an 8-character code into WhatsApp on your phone.",
		ID:          FlowPhone,
	}}
}

// LoadUserLogin attaches a client to a stored login. A login whose device is gone from the
// device store (logged out while the bridge was down) still gets a client, which reports
// bad credentials when connecting.
func (wa *Connector) LoadUserLogin(ctx context.Context, login *bridgev2.UserLogin) error {
	if err := portal.Require(portal.WhatsApp, "login ID", string(login.ID)); err != nil {
		return fmt.Errorf("load WhatsApp login: %w", err)
	}
	phone, err := portal.ParseWALoginID(login.ID)
	if err != nil {
		return fmt.Errorf("load WhatsApp login: %w", err)
	}
	meta := loginMeta(login)
	jid := types.JID{User: phone.User, Server: types.DefaultUserServer, Device: meta.WADeviceID}
	if err = wa.waitStarted(ctx); err != nil {
		return fmt.Errorf("load WhatsApp login %s: %w", login.ID, err)
	}
	if wa.Devices == nil {
		return fmt.Errorf("load WhatsApp login %s: the bridge has no database", login.ID)
	}
	device, err := wa.Devices.GetDevice(ctx, jid)
	if err != nil {
		return fmt.Errorf("load WhatsApp device %s: %w", jid, err)
	}
	c := wa.newClient(login, device)
	login.Client = c
	return nil
}

// FillBridgeInfo names WhatsApp in a portal's m.bridge state.
func (wa *Connector) FillBridgeInfo(p *bridgev2.Portal, content *event.BridgeEventContent) {
	content.Protocol = wa.GetName().AsBridgeInfoSection()
}

// ConfigKey is the key of this network's section under `network:`.
func (wa *Connector) ConfigKey() string { return "whatsapp" }

// IsEnabled reports the section's `enabled` switch.
func (wa *Connector) IsEnabled() bool { return wa.Config.Enabled }
