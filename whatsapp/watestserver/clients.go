package watestserver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// HTTPClient returns an HTTP client that reaches the test server for any WhatsApp URL by dialing
// its TLS listener directly, and trusts the test CA. In-process clients use it; other processes
// use ProxyURL and CACertPEM instead.
func (srv *Server) HTTPClient() *http.Client {
	addr := srv.tlsListener.Addr().String()
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, addr)
			},
			TLSClientConfig:     &tls.Config{RootCAs: srv.ca.pool},
			TLSHandshakeTimeout: 5 * time.Second,
		},
		Timeout: 60 * time.Second,
	}
}

// ProxyHTTPClient returns an HTTP client that goes through the CONNECT proxy and trusts the test
// CA: the same path a bridge process configured with ProxyURL and CACertPEM takes.
func (srv *Server) ProxyHTTPClient() *http.Client {
	proxyURL, _ := url.Parse(srv.ProxyURL())
	// Built like a bridge's transport: Go's defaults (HTTP/2 offered), a proxy, one extra root.
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = http.ProxyURL(proxyURL)
	transport.TLSClientConfig = &tls.Config{RootCAs: srv.ca.pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: transport, Timeout: 60 * time.Second}
}

// ConfigureClient points a whatsmeow client's websocket, pre-login and media HTTP clients at the
// test server. Call it before Connect.
func (srv *Server) ConfigureClient(cli *whatsmeow.Client) {
	hc := srv.HTTPClient()
	cli.SetWebsocketHTTPClient(hc)
	cli.SetPreLoginHTTPClient(hc)
	cli.SetMediaHTTPClient(hc)
}

// ConfigureClientViaProxy is ConfigureClient through the CONNECT proxy.
func (srv *Server) ConfigureClientViaProxy(cli *whatsmeow.Client) {
	hc := srv.ProxyHTTPClient()
	cli.SetWebsocketHTTPClient(hc)
	cli.SetPreLoginHTTPClient(hc)
	cli.SetMediaHTTPClient(hc)
}

// TrustRoot sets whatsmeow.WACertPubKey to the server's root key and returns a function that puts
// the previous key back. WACertPubKey is process-wide: tests that call this must not run in
// parallel with other WhatsApp tests.
func (srv *Server) TrustRoot() (restore func()) {
	prev := whatsmeow.WACertPubKey
	whatsmeow.WACertPubKey = srv.RootPublicKey()
	return func() { whatsmeow.WACertPubKey = prev }
}

// EventLog records a whatsmeow client's events so tests can wait for them.
type EventLog struct {
	mu      sync.Mutex
	events  []any
	changed chan struct{}
	id      uint32
	cli     *whatsmeow.Client
}

// NewEventLog starts recording the events of cli.
func NewEventLog(cli *whatsmeow.Client) *EventLog {
	l := &EventLog{changed: make(chan struct{}), cli: cli}
	l.id = cli.AddEventHandler(func(evt any) {
		l.mu.Lock()
		l.events = append(l.events, evt)
		close(l.changed)
		l.changed = make(chan struct{})
		l.mu.Unlock()
	})
	return l
}

// Stop ends the recording.
func (l *EventLog) Stop() { l.cli.RemoveEventHandler(l.id) }

// Events returns a copy of what was recorded.
func (l *EventLog) Events() []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]any(nil), l.events...)
}

// Wait returns the first recorded event, from index from on, for which match is true, waiting
// until one arrives or ctx ends. It returns the event's index too, to continue from.
func (l *EventLog) Wait(ctx context.Context, from int, match func(any) bool) (any, int, error) {
	for {
		l.mu.Lock()
		for i := from; i < len(l.events); i++ {
			if match(l.events[i]) {
				evt := l.events[i]
				l.mu.Unlock()
				return evt, i, nil
			}
		}
		from = len(l.events)
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, from, fmt.Errorf("waiting for a whatsmeow event: %w", ctx.Err())
		}
	}
}

// WaitFor waits for the first event of type T after index from.
func WaitFor[T any](ctx context.Context, l *EventLog, from int, match func(T) bool) (T, int, error) {
	evt, idx, err := l.Wait(ctx, from, func(evt any) bool {
		typed, ok := evt.(T)
		return ok && (match == nil || match(typed))
	})
	if err != nil {
		var zero T
		return zero, idx, err
	}
	return evt.(T), idx, nil
}

// PairClient links an unpaired whatsmeow client to account phone by QR code, as the account's
// phone would, and waits until the client is logged in (events.Connected). The client must be
// configured for this server (ConfigureClient) and not connected.
func (srv *Server) PairClient(ctx context.Context, cli *whatsmeow.Client, phone string) (types.JID, error) {
	if cli.Store.ID != nil {
		return types.EmptyJID, fmt.Errorf("pair client: it is already paired as %s", cli.Store.ID)
	}
	log := NewEventLog(cli)
	defer log.Stop()
	qrChan, err := cli.GetQRChannel(ctx)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("pair client: get QR channel: %w", err)
	}
	if err = cli.Connect(); err != nil {
		return types.EmptyJID, fmt.Errorf("pair client: connect: %w", err)
	}
	var code string
	select {
	case item := <-qrChan:
		if item.Event != whatsmeow.QRChannelEventCode {
			return types.EmptyJID, fmt.Errorf("pair client: expected a QR code, got %s (%v)", item.Event, item.Error)
		}
		code = item.Code
	case <-ctx.Done():
		return types.EmptyJID, fmt.Errorf("pair client: waiting for a QR code: %w", ctx.Err())
	}
	go func() {
		for range qrChan {
		}
	}()
	jid, err := srv.ScanQR(ctx, phone, code)
	if err != nil {
		return types.EmptyJID, fmt.Errorf("pair client: %w", err)
	}
	if _, _, err = WaitFor[*events.Connected](ctx, log, 0, nil); err != nil {
		return types.EmptyJID, fmt.Errorf("pair client: waiting for login after pairing: %w", err)
	}
	return jid, nil
}
