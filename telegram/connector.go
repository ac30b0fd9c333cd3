// Package telegram is Passerelle's Telegram network connector, built on gotd/td.
package telegram

import (
	"context"
	"fmt"

	up "go.mau.fi/util/configupgrade"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Connector is the Telegram half of the composite connector in package bridge.
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
func (tg *Connector) Network() portal.Network { return portal.Telegram }

func (tg *Connector) Init(br *bridgev2.Bridge) { tg.Bridge = br }

func (tg *Connector) Start(ctx context.Context) error { return nil }

func (tg *Connector) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{
		DisplayName:      "Telegram",
		NetworkURL:       "https://telegram.org",
		NetworkID:        "telegram",
		BeeperBridgeType: "telegram",
	}
}

// GetDBMetaTypes is never used: the composite connector registers the shared holders of package portal.
func (tg *Connector) GetDBMetaTypes() database.MetaTypes { return portal.MetaTypes() }

func (tg *Connector) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	return &bridgev2.NetworkGeneralCapabilities{}
}

func (tg *Connector) GetConfig() (string, any, up.Upgrader) {
	return ExampleConfig, &tg.Config, up.SimpleUpgrader(tg.Config.Upgrade)
}

func (tg *Connector) ValidateConfig() error { return tg.Config.Validate() }

func (tg *Connector) GetBridgeInfoVersion() (info, capabilities int) { return 1, 1 }

// Login flow IDs; the composite connector routes CreateLogin by them.
const (
	FlowPhone = "telegram-phone"
	FlowQR    = "telegram-qr"
	FlowBot   = "telegram-bot"
)

func (tg *Connector) GetLoginFlows() []bridgev2.LoginFlow {
	return []bridgev2.LoginFlow{{
		Name:        "Telegram: phone number",
		Description: "Log in with your phone number, the code Telegram sends you and your cloud password if you set one.",
		ID:          FlowPhone,
	}, {
		Name:        "Telegram: QR code",
		Description: "Log in by scanning a QR code with Telegram on a device that is already logged in (Settings → Devices).",
		ID:          FlowQR,
	}, {
		Name:        "Telegram: bot token",
		Description: "Bridge a Telegram bot, with the token @BotFather gave you.",
		ID:          FlowBot,
	}}
}

// ErrNotBuilt is returned by the parts of the connector that do not exist yet, rather than
// pretending to succeed.
var ErrNotBuilt = fmt.Errorf("the Telegram connector of this Passerelle build cannot do this yet")

func (tg *Connector) CreateLogin(ctx context.Context, user *bridgev2.User, flowID string) (bridgev2.LoginProcess, error) {
	if !tg.Config.HasAPICredentials() {
		return nil, fmt.Errorf("telegram login is not set up on this bridge: the operator must set network.telegram.api_id and api_hash (from https://my.telegram.org/apps)")
	}
	return nil, fmt.Errorf("login flow %s: %w", flowID, ErrNotBuilt)
}

func (tg *Connector) LoadUserLogin(ctx context.Context, login *bridgev2.UserLogin) error {
	return fmt.Errorf("load Telegram login %s: %w", login.ID, ErrNotBuilt)
}

// FillBridgeInfo names Telegram in a portal's m.bridge state.
func (tg *Connector) FillBridgeInfo(p *bridgev2.Portal, content *event.BridgeEventContent) {
	content.Protocol = tg.GetName().AsBridgeInfoSection()
}

// ConfigKey is the key of this network's section under `network:`.
func (tg *Connector) ConfigKey() string { return "telegram" }

// IsEnabled reports the section's `enabled` switch.
func (tg *Connector) IsEnabled() bool { return tg.Config.Enabled }
