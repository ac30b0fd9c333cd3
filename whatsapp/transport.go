package whatsapp

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"go.mau.fi/whatsmeow"
	"golang.org/x/net/proxy"
)

// Transport is the HTTP transport for all WhatsApp traffic: the configured proxy (HTTP or SOCKS5)
// and, when server.ca_file is set, the extra TLS root. Without settings it is Go's default
// transport with proxies from the environment turned off, as whatsmeow does.
func (c *Config) Transport() (*http.Transport, error) {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	if c.Proxy != "" {
		parsed, err := url.Parse(c.Proxy)
		if err != nil {
			return nil, fmt.Errorf("network.whatsapp.proxy: %w", err)
		}
		switch parsed.Scheme {
		case "http", "https":
			transport.Proxy = http.ProxyURL(parsed)
		case "socks5":
			dialer, err := proxy.FromURL(parsed, &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second})
			if err != nil {
				return nil, fmt.Errorf("network.whatsapp.proxy: %w", err)
			}
			transport.DialContext = dialer.(proxy.ContextDialer).DialContext
		default:
			return nil, fmt.Errorf("network.whatsapp.proxy: unsupported scheme %q; use http:// or socks5://", parsed.Scheme)
		}
	}
	pool, err := c.CAPool()
	if err != nil {
		return nil, err
	}
	if pool != nil {
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return transport, nil
}

// applyTransport points a whatsmeow client's websocket (before and after login) and media
// traffic at the configured proxy and TLS roots. The proxy is also set through
// SetProxyAddress so whatsmeow's own proxy bookkeeping agrees.
func (c *Config) applyTransport(cli *whatsmeow.Client) error {
	if err := cli.SetProxyAddress(c.Proxy); err != nil {
		return fmt.Errorf("network.whatsapp.proxy: %w", err)
	}
	if c.Server.CAFile == "" {
		return nil
	}
	transport, err := c.Transport()
	if err != nil {
		return err
	}
	cli.SetWebsocketHTTPClient(&http.Client{Transport: transport})
	cli.SetPreLoginHTTPClient(&http.Client{Transport: transport})
	cli.SetMediaHTTPClient(&http.Client{Transport: transport, Timeout: 5 * time.Minute})
	return nil
}
