package telegram

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"fmt"
	"net"

	up "go.mau.fi/util/configupgrade"
)

//go:embed example-config.yaml
var ExampleConfig string

// Config is the `network.telegram` section.
type Config struct {
	// Enabled switches the whole network off: no login flows, no portals, logins left idle.
	Enabled bool         `yaml:"enabled"`
	APIID   int          `yaml:"api_id"`
	APIHash string       `yaml:"api_hash"`
	Server  ServerConfig `yaml:"server"`
	// RequestRate paces each account's requests (per second) so that Telegram does not answer
	// bursts with FLOOD_WAIT, which stalls the account far longer than pacing does. 0 turns
	// the proactive limit off (FLOOD_WAIT answers are still waited out and retried).
	RequestRate float64 `yaml:"request_rate"`
	// RequestBurst is how many requests may go out at once above RequestRate.
	RequestBurst int `yaml:"request_burst"`
}

// ServerConfig points the bridge at Telegram's test DCs or a self-hosted test server.
type ServerConfig struct {
	DC         int        `yaml:"dc"`
	DCOptions  []DCOption `yaml:"dc_options"`
	PublicKeys []string   `yaml:"public_keys"`
}

// DCOption is one data centre address.
type DCOption struct {
	ID      int    `yaml:"id"`
	Address string `yaml:"address"`
}

// Upgrade copies every key of the section from an existing config.
func (c *Config) Upgrade(helper up.Helper) {
	helper.Copy(up.Bool, "enabled")
	helper.Copy(up.Int, "api_id")
	helper.Copy(up.Str, "api_hash")
	helper.Copy(up.Int, "server", "dc")
	helper.Copy(up.List, "server", "dc_options")
	helper.Copy(up.List, "server", "public_keys")
	helper.Copy(up.Float|up.Int, "request_rate")
	helper.Copy(up.Int, "request_burst")
}

// HasAPICredentials reports whether logins can be offered at all.
func (c *Config) HasAPICredentials() bool { return c.APIID != 0 && c.APIHash != "" }

// Validate checks the section and names the field and the fix of the first problem.
func (c *Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.APIID < 0 {
		return fmt.Errorf("network.telegram.api_id: %d is not an API ID; copy it from https://my.telegram.org/apps", c.APIID)
	}
	if (c.APIID == 0) != (c.APIHash == "") {
		return fmt.Errorf("network.telegram.api_id and api_hash must be set together; copy both from https://my.telegram.org/apps")
	}
	if c.APIHash != "" && len(c.APIHash) != 32 {
		return fmt.Errorf("network.telegram.api_hash: want the 32-character hash from https://my.telegram.org/apps, got %d characters", len(c.APIHash))
	}
	if c.RequestRate < 0 || c.RequestBurst < 0 || c.RequestRate > 0 && c.RequestBurst == 0 {
		return fmt.Errorf("network.telegram.request_rate and request_burst: got %g/s and %d; want both above 0 (e.g. 20 and 30), or request_rate 0 for no proactive limit", c.RequestRate, c.RequestBurst)
	}
	s := c.Server
	custom := s.DC != 0 || len(s.DCOptions) > 0 || len(s.PublicKeys) > 0
	if !custom {
		return nil
	}
	if s.DC <= 0 || len(s.DCOptions) == 0 || len(s.PublicKeys) == 0 {
		return fmt.Errorf("network.telegram.server: dc, dc_options and public_keys must all be set for a custom server (or all left empty for Telegram's production servers)")
	}
	found := false
	for i, opt := range s.DCOptions {
		if _, _, err := net.SplitHostPort(opt.Address); err != nil || opt.ID <= 0 {
			return fmt.Errorf("network.telegram.server.dc_options[%d]: want {id: <dc number>, address: \"host:port\"}, got id %d address %q", i, opt.ID, opt.Address)
		}
		found = found || opt.ID == s.DC
	}
	if !found {
		return fmt.Errorf("network.telegram.server.dc: DC %d has no entry in dc_options", s.DC)
	}
	for i, key := range s.PublicKeys {
		if _, err := ParsePublicKey(key); err != nil {
			return fmt.Errorf("network.telegram.server.public_keys[%d]: %w", i, err)
		}
	}
	return nil
}

// ParsePublicKey decodes a PEM RSA public key in PKCS#1 or PKIX form.
func ParsePublicKey(data string) (any, error) {
	block, _ := pem.Decode([]byte(data))
	if block == nil {
		return nil, fmt.Errorf("not a PEM block; paste the key including its BEGIN/END lines")
	}
	if key, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return key, nil
	}
	key, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not an RSA public key: %w", err)
	}
	return key, nil
}
