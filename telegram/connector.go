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
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
)

// Connector is the Telegram half of the composite connector in package bridge.
type Connector struct {
	maxFileSize int64
	Bridge      *bridgev2.Bridge
	Config      Config
	// Store keeps sessions, update state and access hashes in the bridge database; set by Start.
	Store *tgstore.Store

	// started is closed when Start finished (startErr says how). Logins wait for it: the
	// appservice takes transactions before the network connectors start, and a Matrix event
	// redelivered at start loads its login then (seen in TestSoak: a client built before Start
	// had no store and crashed the bridge on its first state read).
	started  chan struct{}
	startErr error
}

var _ bridgev2.NetworkConnector = (*Connector)(nil)

// NewConnector returns a connector with the example config's defaults.
func NewConnector() *Connector {
	return &Connector{Config: Config{Enabled: true}}
}

// Network is the ID prefix of everything this connector owns.
func (tc *Connector) Network() portal.Network { return portal.Telegram }

func (tc *Connector) Init(br *bridgev2.Bridge) {
	tc.Bridge = br
	tc.started = make(chan struct{})
}

// waitStarted waits until Start finished and reports its error. A connector that was not
// initialised by a bridge (tests that set Store themselves) does not wait.
func (tc *Connector) waitStarted(ctx context.Context) error {
	if tc.started == nil {
		return nil
	}
	select {
	case <-tc.started:
		if tc.startErr != nil {
			return fmt.Errorf("the Telegram connector failed to start: %w", tc.startErr)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for the Telegram connector to start: %w", ctx.Err())
	}
}

// Start creates or upgrades the telegram_ tables of the bridge database.
func (tc *Connector) Start(ctx context.Context) (err error) {
	if tc.started == nil {
		tc.started = make(chan struct{})
	}
	defer func() {
		tc.startErr = err
		close(tc.started)
	}()
	if tc.Bridge.Config.PortalEventBuffer != 0 {
		// With a buffer, bridgev2 accepts remote events into memory before they are bridged, so
		// an update's position may be saved before its event is (see tgstore.Gate).
		tc.Bridge.Log.Warn().Int("portal_event_buffer", tc.Bridge.Config.PortalEventBuffer).
			Msg("bridge.portal_event_buffer is not 0: Telegram updates are saved as handled once queued in memory; set it to 0 so a crash cannot lose them")
	}
	tc.Store = tgstore.New(tc.Bridge.DB.Database, tc.Bridge.Log)
	return tc.Store.Upgrade(ctx)
}

func (tc *Connector) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{
		DisplayName:      "Telegram",
		NetworkURL:       "https://telegram.org",
		NetworkID:        "telegram",
		BeeperBridgeType: "telegram",
	}
}

// GetDBMetaTypes is never used: the composite connector registers the shared holders of package portal.
func (tc *Connector) GetDBMetaTypes() database.MetaTypes { return portal.MetaTypes() }

func (tc *Connector) GetConfig() (string, any, up.Upgrader) {
	return ExampleConfig, &tc.Config, up.SimpleUpgrader(tc.Config.Upgrade)
}

func (tc *Connector) ValidateConfig() error { return tc.Config.Validate() }

func (tc *Connector) GetBridgeInfoVersion() (info, capabilities int) { return 1, 1 }

// Login flow IDs; the composite connector routes CreateLogin by them.
const (
	FlowPhone = "telegram-phone"
	FlowQR    = "telegram-qr"
	FlowBot   = "telegram-bot"
)

func (tc *Connector) GetLoginFlows() []bridgev2.LoginFlow {
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

// LoadUserLogin gives a stored login its client; bridgev2 then calls Connect.
func (tc *Connector) LoadUserLogin(ctx context.Context, login *bridgev2.UserLogin) error {
	userID, err := portal.ParseTGLoginID(login.ID)
	if err != nil {
		return fmt.Errorf("load Telegram login: %w", err)
	}
	if err = tc.waitStarted(ctx); err != nil {
		return fmt.Errorf("load Telegram login %s: %w", login.ID, err)
	}
	meta, _ := login.Metadata.(*portal.LoginMeta)
	if meta == nil {
		meta = &portal.LoginMeta{}
		login.Metadata = meta
	}
	if meta.TG == nil {
		meta.TG = &tgmeta.Login{}
	}
	login.Client = newClient(tc, login, userID, meta.TG)
	return nil
}

// FillBridgeInfo names Telegram in a portal's m.bridge state.
func (tc *Connector) FillBridgeInfo(p *bridgev2.Portal, content *event.BridgeEventContent) {
	content.Protocol = tc.GetName().AsBridgeInfoSection()
}

// ConfigKey is the key of this network's section under `network:`.
func (tc *Connector) ConfigKey() string { return "telegram" }

// IsEnabled reports the section's `enabled` switch.
func (tc *Connector) IsEnabled() bool { return tc.Config.Enabled }
