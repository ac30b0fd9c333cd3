package bridge

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	up "go.mau.fi/util/configupgrade"
	"gopkg.in/yaml.v3"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

func flowIDs(flows []bridgev2.LoginFlow) []string {
	var ids []string
	for _, f := range flows {
		ids = append(ids, f.ID)
	}
	return ids
}

func TestLoginFlowsFollowEnableSwitches(t *testing.T) {
	cases := []struct {
		wa, tg bool
		want   []string
	}{
		{true, true, []string{"whatsapp-qr", "whatsapp-phone", "telegram-phone", "telegram-qr", "telegram-bot"}},
		{true, false, []string{"whatsapp-qr", "whatsapp-phone"}},
		{false, true, []string{"telegram-phone", "telegram-qr", "telegram-bot"}},
		{false, false, nil},
	}
	for _, tc := range cases {
		c := New()
		c.WhatsApp.Config.Enabled, c.Telegram.Config.Enabled = tc.wa, tc.tg
		if got := flowIDs(c.GetLoginFlows()); !slices.Equal(got, tc.want) {
			t.Errorf("wa=%v tg=%v: flows %v, want %v", tc.wa, tc.tg, got, tc.want)
		}
		err := c.ValidateConfig()
		if (err != nil) != (!tc.wa && !tc.tg) {
			t.Errorf("wa=%v tg=%v: ValidateConfig = %v", tc.wa, tc.tg, err)
		}
	}
}

func TestCreateLoginRouting(t *testing.T) {
	c := New()
	c.WhatsApp.Config.Enabled = false
	_, err := c.CreateLogin(context.Background(), nil, "whatsapp-qr")
	if !errors.Is(err, ErrNetworkDisabled) {
		t.Errorf("disabled network flow: err = %v", err)
	}
	_, err = c.CreateLogin(context.Background(), nil, "signal-qr")
	if err == nil || !strings.Contains(err.Error(), "telegram-phone") {
		t.Errorf("unknown flow should list the real ones, got %v", err)
	}
	// Telegram without API credentials explains what the operator must set.
	_, err = c.CreateLogin(context.Background(), nil, "telegram-phone")
	if err == nil || !strings.Contains(err.Error(), "api_id") {
		t.Errorf("telegram without api_id: err = %v", err)
	}
}

func TestRoutingByPrefix(t *testing.T) {
	c := New()
	cases := []struct {
		id      string
		want    portal.Network
		wantErr error
	}{
		{"wa.33612345678", portal.WhatsApp, nil},
		{"tg.5000", portal.Telegram, nil},
		{"sg.1", "", portal.ErrMalformedID},
		{"33612345678", "", portal.ErrMalformedID},
	}
	for _, tc := range cases {
		n, err := c.route("test", tc.id)
		if tc.wantErr != nil {
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("route(%s) err = %v, want %v", tc.id, err, tc.wantErr)
			}
			continue
		}
		if err != nil || n.Network() != tc.want {
			t.Errorf("route(%s) = %v, %v", tc.id, n, err)
		}
	}
	c.Telegram.Config.Enabled = false
	if _, err := c.route("test", "tg.5000"); !errors.Is(err, ErrNetworkDisabled) || !strings.Contains(err.Error(), "network.telegram.enabled") {
		t.Errorf("disabled network: err = %v", err)
	}
	login := &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: "tg.5000"}}
	if err := c.LoadUserLogin(context.Background(), login); !errors.Is(err, ErrNetworkDisabled) {
		t.Errorf("LoadUserLogin of a disabled network: err = %v", err)
	}
	if c.ValidateUserID("tg.5000") {
		t.Error("ghost of a disabled network validated")
	}
}

func TestPortalBridgeInfoNamesItsNetwork(t *testing.T) {
	c := New()
	for id, want := range map[networkid.PortalID]string{
		"wa.33612345678@s.whatsapp.net": "WhatsApp",
		"tg.c12345":                     "Telegram",
	} {
		p := &bridgev2.Portal{Portal: &database.Portal{PortalKey: networkid.PortalKey{ID: id}}}
		content := &event.BridgeEventContent{}
		c.FillPortalBridgeInfo(p, content)
		if content.Protocol.DisplayName != want || content.Protocol.ID == "" {
			t.Errorf("portal %s: protocol %+v, want %s", id, content.Protocol, want)
		}
	}
}

// Every key of both network sections must survive a config upgrade (what -g and every start do).
func TestNetworkConfigRoundTrip(t *testing.T) {
	c := New()
	example, _, upgrader := c.GetConfig()
	user := `
whatsapp:
    enabled: false
    proxy: socks5://proxy.internal:1080
    server:
        root_public_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
        ca_file: /etc/passerelle/wa-ca.pem
telegram:
    enabled: true
    api_id: 12345
    api_hash: 0123456789abcdef0123456789abcdef
    server:
        dc: 2
        dc_options:
            - id: 2
              address: 127.0.0.1:4430
        public_keys:
            - |
              -----BEGIN RSA PUBLIC KEY-----
              xyz
              -----END RSA PUBLIC KEY-----
`
	out, err := up.DoBytes([]byte(user), &up.StructUpgrader{SimpleUpgrader: upgrader.DoUpgrade, Base: example})
	if err != nil {
		t.Fatal(err)
	}
	fresh := New()
	_, data, _ := fresh.GetConfig()
	if err = yaml.Unmarshal(out, data); err != nil {
		t.Fatal(err)
	}
	wa, tg := fresh.WhatsApp.Config, fresh.Telegram.Config
	if wa.Enabled || wa.Proxy != "socks5://proxy.internal:1080" || wa.Server.CAFile != "/etc/passerelle/wa-ca.pem" || wa.Server.RootPublicKey == "" {
		t.Errorf("whatsapp section lost keys: %+v", wa)
	}
	if !tg.Enabled || tg.APIID != 12345 || tg.APIHash != "0123456789abcdef0123456789abcdef" || tg.Server.DC != 2 ||
		len(tg.Server.DCOptions) != 1 || tg.Server.DCOptions[0].Address != "127.0.0.1:4430" || len(tg.Server.PublicKeys) != 1 ||
		!strings.Contains(tg.Server.PublicKeys[0], "BEGIN RSA PUBLIC KEY") {
		t.Errorf("telegram section lost keys: %+v", tg)
	}
}

func TestNetworkIconsDiffer(t *testing.T) {
	wa, tg := NetworkIcon(portal.WhatsApp), NetworkIcon(portal.Telegram)
	if len(wa) < 100 || len(tg) < 100 || string(wa) == string(tg) {
		t.Fatalf("icons: %d and %d bytes, equal=%v", len(wa), len(tg), string(wa) == string(tg))
	}
	if !strings.HasPrefix(string(wa), "\x89PNG") {
		t.Fatal("icon is not a PNG")
	}
}
