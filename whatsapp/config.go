package whatsapp

import (
	"crypto/x509"
	_ "embed"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/url"
	"os"

	up "go.mau.fi/util/configupgrade"
)

//go:embed example-config.yaml
var ExampleConfig string

// Config is the `network.whatsapp` section.
type Config struct {
	// Enabled switches the whole network off: no login flows, no portals, logins left idle.
	Enabled bool `yaml:"enabled"`
	// Proxy carries all WhatsApp traffic (websocket and media) through an HTTP or SOCKS5 proxy.
	Proxy string `yaml:"proxy"`
	// StatusBroadcast bridges contacts' status updates (status@broadcast) into one "WhatsApp
	// Status" room. Off by default: statuses are many and most users do not want them in chat.
	StatusBroadcast bool `yaml:"status_broadcast"`
	// Newsletters bridges followed channels into read-only rooms. Off by default, for the same
	// reason.
	Newsletters bool         `yaml:"newsletters"`
	Server      ServerConfig `yaml:"server"`
}

// ServerConfig points the bridge at a WhatsApp test server instead of WhatsApp's own; for tests only.
type ServerConfig struct {
	// RootPublicKey replaces whatsmeow.WACertPubKey (base64 of 32 bytes).
	RootPublicKey string `yaml:"root_public_key"`
	// CAFile is an extra TLS root (PEM) trusted for the server's certificate.
	CAFile string `yaml:"ca_file"`
}

// Upgrade copies every key of the section from an existing config into the new layout, so no
// setting is dropped when the example changes.
func (c *Config) Upgrade(helper up.Helper) {
	helper.Copy(up.Bool, "enabled")
	helper.Copy(up.Str, "proxy")
	helper.Copy(up.Bool, "status_broadcast")
	helper.Copy(up.Bool, "newsletters")
	helper.Copy(up.Str, "server", "root_public_key")
	helper.Copy(up.Str, "server", "ca_file")
}

// Validate checks the section and names the field and the fix of the first problem.
func (c *Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	if c.Proxy != "" {
		u, err := url.Parse(c.Proxy)
		if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5") {
			return fmt.Errorf("network.whatsapp.proxy: %q is not a proxy URL; use http://host:port or socks5://host:port, or leave it empty", c.Proxy)
		}
	}
	if c.Server.RootPublicKey != "" {
		if _, err := c.RootPublicKey(); err != nil {
			return err
		}
	}
	if c.Server.CAFile != "" {
		if _, err := c.CAPool(); err != nil {
			return err
		}
	}
	return nil
}

// RootPublicKey decodes server.root_public_key; ok is false when it is empty (WhatsApp's own key).
func (c *Config) RootPublicKey() (*[32]byte, error) {
	if c.Server.RootPublicKey == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(c.Server.RootPublicKey)
	if err != nil || len(raw) != 32 {
		return nil, fmt.Errorf("network.whatsapp.server.root_public_key: want base64 of 32 bytes (got %d bytes, %v); leave it empty for WhatsApp's own servers", len(raw), err)
	}
	var key [32]byte
	copy(key[:], raw)
	return &key, nil
}

// CAPool returns the system roots plus server.ca_file, or nil when no extra CA is configured.
func (c *Config) CAPool() (*x509.CertPool, error) {
	if c.Server.CAFile == "" {
		return nil, nil
	}
	data, err := os.ReadFile(c.Server.CAFile)
	if err != nil {
		return nil, fmt.Errorf("network.whatsapp.server.ca_file: %w; point it at a PEM file or leave it empty", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if block, _ := pem.Decode(data); block == nil || !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("network.whatsapp.server.ca_file: %s holds no PEM certificate", c.Server.CAFile)
	}
	return pool, nil
}
