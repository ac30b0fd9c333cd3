// Package whatsapp is Passerelle's WhatsApp network connector, built on whatsmeow.
package whatsapp

import (
	"context"
	"fmt"

	up "go.mau.fi/util/configupgrade"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Connector is the WhatsApp half of the composite connector in package bridge.
type Connector struct {
	Bridge *bridgev2.Bridge
	Config Config
}

var _ bridgev2.NetworkConnector = (*Connector)(nil)

// NewConnector returns a connector with the example config's defaults.
func NewConnector() *Connector {
	return &Connector{Config: Config{Enabled: true}}
}

// Network is the ID prefix of everything this connector owns.
func (wa *Connector) Network() portal.Network { return portal.WhatsApp }

func (wa *Connector) Init(br *bridgev2.Bridge) { wa.Bridge = br }

func (wa *Connector) Start(ctx context.Context) error { return nil }

func (wa *Connector) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{
		DisplayName:      "WhatsApp",
		NetworkURL:       "https://whatsapp.com",
		NetworkID:        "whatsapp",
		BeeperBridgeType: "whatsapp",
	}
}

// GetDBMetaTypes is never used: the composite connector registers the shared holders of package portal.
func (wa *Connector) GetDBMetaTypes() database.MetaTypes { return portal.MetaTypes() }

func (wa *Connector) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	return &bridgev2.NetworkGeneralCapabilities{}
}

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

// ErrNotBuilt is returned by the parts of the connector that do not exist yet, rather than
// pretending to succeed.
var ErrNotBuilt = fmt.Errorf("the WhatsApp connector of this Passerelle build cannot do this yet")

func (wa *Connector) CreateLogin(ctx context.Context, user *bridgev2.User, flowID string) (bridgev2.LoginProcess, error) {
	return nil, fmt.Errorf("login flow %s: %w", flowID, ErrNotBuilt)
}

func (wa *Connector) LoadUserLogin(ctx context.Context, login *bridgev2.UserLogin) error {
	return fmt.Errorf("load WhatsApp login %s: %w", login.ID, ErrNotBuilt)
}

// FillBridgeInfo names WhatsApp in a portal's m.bridge state.
func (wa *Connector) FillBridgeInfo(p *bridgev2.Portal, content *event.BridgeEventContent) {
	content.Protocol = wa.GetName().AsBridgeInfoSection()
}

// ConfigKey is the key of this network's section under `network:`.
func (wa *Connector) ConfigKey() string { return "whatsapp" }

// IsEnabled reports the section's `enabled` switch.
func (wa *Connector) IsEnabled() bool { return wa.Config.Enabled }
