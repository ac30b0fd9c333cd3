package bridge

import (
	"fmt"
	"strings"

	up "go.mau.fi/util/configupgrade"

	"github.com/passerelle-bridge/passerelle/telegram"
	"github.com/passerelle-bridge/passerelle/whatsapp"
)

// Config is the `network:` section of the bridge config: one sub-section per network, each with
// its own `enabled` switch, in the connectors' own formats.
type Config struct {
	WhatsApp *whatsapp.Config `yaml:"whatsapp"`
	Telegram *telegram.Config `yaml:"telegram"`
}

func indent(text string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
		if line == "" {
			b.WriteString("\n")
			continue
		}
		b.WriteString("    ")
		b.WriteString(line)
		b.WriteString("\n")
	}
	return b.String()
}

// GetConfig nests each network's example, config struct and upgrader under its own key.
func (c *Connector) GetConfig() (example string, data any, upgrader up.Upgrader) {
	var ex strings.Builder
	var ups []up.Upgrader
	cfg := &Config{}
	for _, n := range c.all {
		netExample, netData, netUpgrader := n.GetConfig()
		key := n.ConfigKey()
		fmt.Fprintf(&ex, "# %s\n%s:\n%s", n.GetName().DisplayName, key, indent(netExample))
		switch typed := netData.(type) {
		case *whatsapp.Config:
			cfg.WhatsApp = typed
		case *telegram.Config:
			cfg.Telegram = typed
		}
		if netUpgrader != nil {
			ups = append(ups, &up.ProxyUpgrader{Prefix: []string{key}, Target: netUpgrader})
		}
	}
	return strings.TrimRight(ex.String(), "\n"), cfg, multiUpgrader(ups)
}

type multiUpgrader []up.Upgrader

func (m multiUpgrader) DoUpgrade(helper up.Helper) {
	for _, u := range m {
		u.DoUpgrade(helper)
	}
}
