// Package bridge holds Passerelle's composite network connector: one bridgev2.NetworkConnector
// that serves WhatsApp and Telegram from one appservice, one database, one bot and one management
// room, routing every call to the network named by the ID prefix (see package portal).
package bridge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/rs/zerolog"
	"go.mau.fi/util/configupgrade"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/mediaproxy"

	"github.com/passerelle-bridge/passerelle/audit"
	"github.com/passerelle-bridge/passerelle/internal/bv2fix"
	"github.com/passerelle-bridge/passerelle/internal/mxconn"
	"github.com/passerelle-bridge/passerelle/metrics"
	"github.com/passerelle-bridge/passerelle/outbox"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram"
	"github.com/passerelle-bridge/passerelle/whatsapp"
)

// Network is what each network package gives the composite: a full bridgev2 connector of its
// own, plus the prefix it owns and its enable switch.
type Network interface {
	bridgev2.NetworkConnector
	Network() portal.Network
	ConfigKey() string
	IsEnabled() bool
	FillBridgeInfo(p *bridgev2.Portal, content *event.BridgeEventContent)
}

// Connector is the composite connector handed to mxmain.
type Connector struct {
	Bridge *bridgev2.Bridge

	WhatsApp *whatsapp.Connector
	Telegram *telegram.Connector

	// Audit records logins, logouts, relay and permission changes.
	Audit *audit.Log
	// Outbox keeps Matrix events sent while a network is disconnected (see package outbox).
	Outbox *outbox.Outbox

	all   []Network
	icons map[portal.Network]id.ContentURIString
}

var (
	_ bridgev2.NetworkConnector               = (*Connector)(nil)
	_ bridgev2.StoppableNetwork               = (*Connector)(nil)
	_ bridgev2.ConfigValidatingNetwork        = (*Connector)(nil)
	_ bridgev2.PortalBridgeInfoFillingNetwork = (*Connector)(nil)
	_ bridgev2.IdentifierValidatingNetwork    = (*Connector)(nil)
	_ bridgev2.DirectMediableNetwork          = (*Connector)(nil)
	_ bridgev2.MaxFileSizeingNetwork          = (*Connector)(nil)
)

// New returns the composite over both networks, WhatsApp first (the order identifiers are tried).
func New() *Connector {
	wa, tg := whatsapp.NewConnector(), telegram.NewConnector()
	return &Connector{WhatsApp: wa, Telegram: tg, all: []Network{wa, tg}}
}

// Enabled lists the networks switched on in the config, in routing order.
func (c *Connector) Enabled() []Network {
	out := make([]Network, 0, len(c.all))
	for _, n := range c.all {
		if n.IsEnabled() {
			out = append(out, n)
		}
	}
	return out
}

// ErrNetworkDisabled is returned for IDs of a network the operator switched off.
var ErrNetworkDisabled = errors.New("network is disabled in this bridge's config")

// For returns the connector of network n, or an error naming the config switch when it is off.
func (c *Connector) For(n portal.Network) (Network, error) {
	for _, net := range c.all {
		if net.Network() == n {
			if !net.IsEnabled() {
				return nil, fmt.Errorf("%s: %w (network.%s.enabled is false)", n.Name(), ErrNetworkDisabled, net.ConfigKey())
			}
			return net, nil
		}
	}
	return nil, fmt.Errorf("unknown network %q: %w", n, portal.ErrMalformedID)
}

// route finds the connector of any prefixed ID.
func (c *Connector) route(kind, id string) (Network, error) {
	n, err := portal.NetworkOf(id)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", kind, err)
	}
	return c.For(n)
}

func (c *Connector) Init(br *bridgev2.Bridge) {
	c.Bridge = br
	c.Audit = audit.New(br.DB.Database, br.Log)
	c.Outbox = outbox.New(br)
	for _, n := range c.all {
		n.Init(br)
	}
	c.registerCommands()
	c.initAuditHooks()
}

func (c *Connector) Start(ctx context.Context) error {
	enabled := c.Enabled()
	if len(enabled) == 0 {
		return errors.New("both networks are disabled: set network.whatsapp.enabled or network.telegram.enabled to true")
	}
	if err := c.Audit.Upgrade(ctx); err != nil {
		return err
	}
	if err := c.Outbox.Upgrade(ctx); err != nil {
		return err
	}
	c.auditPermissions(ctx)
	// The appservice listener always has a router; GetRouter only returns it when a public
	// address is configured, but /metrics and health belong on the private listener anyway.
	if mc, ok := mxconn.Of(c.Bridge.Matrix); ok && mc.AS != nil && mc.AS.Router != nil {
		if err := metrics.Serve(c.Bridge, mc.AS.Router); err != nil {
			return fmt.Errorf("serve metrics: %w", err)
		}
	}
	for _, n := range c.all {
		if !n.IsEnabled() {
			zerolog.Ctx(ctx).Info().Str("network", n.Network().Name()).Msg("Network disabled in config; its logins stay idle")
			continue
		}
		if err := n.Start(ctx); err != nil {
			return fmt.Errorf("start %s connector: %w", n.Network().Name(), err)
		}
	}
	c.uploadIcons(ctx)
	return nil
}

func (c *Connector) Stop() {
	for _, n := range c.Enabled() {
		if s, ok := n.(bridgev2.StoppableNetwork); ok {
			s.Stop()
		}
	}
}

// GetName is the bridge-wide identity (bot, management room, appservice); each portal's m.bridge
// state names its own network through FillPortalBridgeInfo.
func (c *Connector) GetName() bridgev2.BridgeName {
	return bridgev2.BridgeName{
		DisplayName:          "Passerelle",
		NetworkURL:           "https://github.com/passerelle-bridge/passerelle",
		NetworkID:            "passerelle",
		BeeperBridgeType:     "github.com/passerelle-bridge/passerelle",
		DefaultPort:          29340,
		DefaultCommandPrefix: "!pa",
	}
}

func (c *Connector) GetDBMetaTypes() database.MetaTypes { return portal.MetaTypes() }

// GetCapabilities ORs the networks' capabilities; each network refuses what it cannot do itself.
func (c *Connector) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	out := &bridgev2.NetworkGeneralCapabilities{}
	for _, n := range c.Enabled() {
		nc := n.GetCapabilities()
		out.DisappearingMessages = out.DisappearingMessages || nc.DisappearingMessages
		out.AggressiveUpdateInfo = out.AggressiveUpdateInfo || nc.AggressiveUpdateInfo
		out.ImplicitReadReceipts = out.ImplicitReadReceipts || nc.ImplicitReadReceipts
		if out.OutgoingMessageTimeouts == nil {
			out.OutgoingMessageTimeouts = nc.OutgoingMessageTimeouts
		}
		ri, nri := &out.Provisioning.ResolveIdentifier, nc.Provisioning.ResolveIdentifier
		ri.CreateDM = ri.CreateDM || nri.CreateDM
		ri.LookupPhone = ri.LookupPhone || nri.LookupPhone
		ri.LookupEmail = ri.LookupEmail || nri.LookupEmail
		ri.LookupUsername = ri.LookupUsername || nri.LookupUsername
		ri.AnyPhone = ri.AnyPhone || nri.AnyPhone
		ri.ContactList = ri.ContactList || nri.ContactList
		ri.Search = ri.Search || nri.Search
		for k, v := range nc.Provisioning.GroupCreation {
			if out.Provisioning.GroupCreation == nil {
				out.Provisioning.GroupCreation = map[string]bridgev2.GroupTypeCapabilities{}
			}
			out.Provisioning.GroupCreation[string(n.Network())+"."+k] = v
		}
	}
	return out
}

// GetBridgeInfoVersion changes when either network's does, so bridgev2 resends m.bridge.
func (c *Connector) GetBridgeInfoVersion() (info, capabilities int) {
	for _, n := range c.all {
		i, cp := n.GetBridgeInfoVersion()
		info += i
		capabilities += cp
	}
	return
}

func (c *Connector) ValidateConfig() error {
	if len(c.Enabled()) == 0 {
		return errors.New("network: both whatsapp.enabled and telegram.enabled are false; enable at least one network")
	}
	for _, n := range c.all {
		if v, ok := n.(bridgev2.ConfigValidatingNetwork); ok && n.IsEnabled() {
			if err := v.ValidateConfig(); err != nil {
				return err
			}
		}
	}
	return nil
}

// GetLoginFlows lists the flows of the enabled networks, WhatsApp's first.
func (c *Connector) GetLoginFlows() []bridgev2.LoginFlow {
	var flows []bridgev2.LoginFlow
	for _, n := range c.Enabled() {
		flows = append(flows, n.GetLoginFlows()...)
	}
	return flows
}

// CreateLogin hands the login to the network offering flowID.
func (c *Connector) CreateLogin(ctx context.Context, user *bridgev2.User, flowID string) (bridgev2.LoginProcess, error) {
	for _, n := range c.all {
		for _, flow := range n.GetLoginFlows() {
			if flow.ID != flowID {
				continue
			}
			if !n.IsEnabled() {
				return nil, fmt.Errorf("login flow %s: %s %w", flowID, n.Network().Name(), ErrNetworkDisabled)
			}
			lp, err := n.CreateLogin(ctx, user, flowID)
			if err != nil {
				return nil, err
			}
			return c.wrapLogin(lp, user, flowID), nil
		}
	}
	return nil, fmt.Errorf("unknown login flow %q; the flows are: %s", flowID, strings.Join(c.flowIDs(), ", "))
}

func (c *Connector) flowIDs() []string {
	var ids []string
	for _, f := range c.GetLoginFlows() {
		ids = append(ids, f.ID)
	}
	return ids
}

// LoadUserLogin gives each stored login to the connector of its network. A login of a disabled
// network is left without a client and skipped by bridgev2, so nothing is sent on its behalf.
// bridgev2 also calls it for a login just made (NewLogin without its own loader), which gets the
// in-portal cache bridgev2 forgets (bv2fix.EnsurePortalCache).
func (c *Connector) LoadUserLogin(ctx context.Context, login *bridgev2.UserLogin) error {
	bv2fix.EnsurePortalCache(login)
	n, err := c.route("login "+string(login.ID), string(login.ID))
	if err != nil {
		return err
	}
	return n.LoadUserLogin(ctx, login)
}

// FillPortalBridgeInfo names the portal's own network in its m.bridge state.
func (c *Connector) FillPortalBridgeInfo(p *bridgev2.Portal, content *event.BridgeEventContent) {
	n, err := c.route("portal", string(p.ID))
	if err != nil {
		p.Log.Warn().Err(err).Msg("Cannot tell the network of portal for m.bridge")
		return
	}
	n.FillBridgeInfo(p, content)
	if icon := c.icons[n.Network()]; icon != "" {
		content.Protocol.AvatarURL = icon
	}
}

// ValidateUserID accepts ghost IDs of the enabled networks that their connector accepts.
func (c *Connector) ValidateUserID(id networkid.UserID) bool {
	n, err := c.route("user", string(id))
	if err != nil {
		return false
	}
	if v, ok := n.(bridgev2.IdentifierValidatingNetwork); ok {
		return v.ValidateUserID(id)
	}
	return true
}

func (c *Connector) SetUseDirectMedia() {
	for _, n := range c.all {
		if dm, ok := n.(bridgev2.DirectMediableNetwork); ok {
			dm.SetUseDirectMedia()
		}
	}
}

// Download serves a direct-media request from the network named by the media ID's prefix.
func (c *Connector) Download(ctx context.Context, mediaID networkid.MediaID, params map[string]string) (mediaproxy.GetMediaResponse, error) {
	n, err := c.route("media", string(mediaID))
	if err != nil {
		return nil, err
	}
	dm, ok := n.(bridgev2.DirectMediableNetwork)
	if !ok {
		return nil, fmt.Errorf("media %s: %s does not serve direct media", mediaID, n.Network().Name())
	}
	return dm.Download(ctx, mediaID, params)
}

func (c *Connector) SetMaxFileSize(maxSize int64) {
	for _, n := range c.all {
		if m, ok := n.(bridgev2.MaxFileSizeingNetwork); ok {
			m.SetMaxFileSize(maxSize)
		}
	}
}

var _ configupgrade.Upgrader = multiUpgrader(nil)
