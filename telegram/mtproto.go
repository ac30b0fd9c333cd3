package telegram

import (
	"crypto/rsa"
	"fmt"
	"net"
	"strconv"

	"github.com/gotd/contrib/middleware/ratelimit"
	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"
	"golang.org/x/time/rate"
)

// DefaultRequestRate and DefaultRequestBurst are the example config's pacing of each account
// (network.telegram.request_rate and request_burst): Telegram answers bursts with FLOOD_WAIT,
// which costs far more than pacing requests ourselves.
const (
	DefaultRequestRate  = 20 // requests per second
	DefaultRequestBurst = 30
)

// IsCustomServer reports whether the config points at a server other than Telegram's own.
func (c *Config) IsCustomServer() bool {
	return c.Server.DC != 0 || len(c.Server.DCOptions) > 0 || len(c.Server.PublicKeys) > 0
}

// clientOptions builds the gotd options shared by login and account clients: the server
// (Telegram's production DCs, or the configured test server with its keys, without PFS since
// test servers lack auth.bindTempAuthKey), the device name and the request rate limit (none
// when request_rate is 0). Callers add the session storage, the update handler and further middlewares.
func (c *Config) clientOptions(log zerolog.Logger, storage session.Storage) (telegram.Options, error) {
	opts := telegram.Options{
		SessionStorage: storage,
		Logger:         newGotdLogger(log.With().Str("component", "gotd").Logger()),
		Device: telegram.DeviceConfig{
			DeviceModel:    "Passerelle",
			SystemVersion:  "Matrix bridge",
			AppVersion:     "1.0",
			SystemLangCode: "en",
			LangCode:       "en",
		},
		NoUpdates: true,
	}
	if c.RequestRate > 0 {
		opts.Middlewares = []telegram.Middleware{ratelimit.New(rate.Limit(c.RequestRate), max(c.RequestBurst, 1))}
	}
	if !c.IsCustomServer() {
		opts.EnablePFS = true
		return opts, nil
	}
	opts.DC = c.Server.DC
	opts.Resolver = dcs.Plain(dcs.PlainOptions{})
	for i, o := range c.Server.DCOptions {
		host, portStr, err := net.SplitHostPort(o.Address)
		port, perr := strconv.Atoi(portStr)
		if err != nil || perr != nil {
			return opts, fmt.Errorf("network.telegram.server.dc_options[%d].address %q: want host:port", i, o.Address)
		}
		ip := net.ParseIP(host)
		opts.DCList.Options = append(opts.DCList.Options, tg.DCOption{
			ID: o.ID, IPAddress: host, Port: port, Static: true, Ipv6: ip != nil && ip.To4() == nil,
		})
	}
	for i, pemKey := range c.Server.PublicKeys {
		key, err := ParsePublicKey(pemKey)
		if err != nil {
			return opts, fmt.Errorf("network.telegram.server.public_keys[%d]: %w", i, err)
		}
		rsaKey, ok := key.(*rsa.PublicKey)
		if !ok {
			return opts, fmt.Errorf("network.telegram.server.public_keys[%d]: a %T, not an RSA key", i, key)
		}
		opts.PublicKeys = append(opts.PublicKeys, telegram.PublicKey{RSA: rsaKey})
	}
	return opts, nil
}
