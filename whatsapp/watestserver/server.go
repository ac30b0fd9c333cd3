// Package watestserver is a WhatsApp server for tests: real whatsmeow clients connect to it on
// loopback, pair, log in, and exchange end-to-end encrypted messages through it.
//
// The server speaks WhatsApp's web protocol as the server side: a TLS websocket on loopback with a
// certificate from a throwaway CA, the Noise XX handshake with a certificate chain signed by a
// generated root key (clients accept it once whatsmeow.WACertPubKey is set to RootPublicKey), then
// binary XML nodes. It keeps accounts, devices, prekeys, groups and an offline queue in memory; it
// never decrypts messages: whatsmeow clients encrypt end to end, as they do in production.
//
// Processes reach it through the HTTP CONNECT proxy it runs (ProxyURL): every WhatsApp host is
// routed to the server's TLS listener, so URLs stay wss://web.whatsapp.com and https://mmg.whatsapp.net.
package watestserver

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/util/keys"
)

// Options tune a Server. The zero value is usable.
type Options struct {
	// Log receives the server's own log lines. Defaults to a disabled logger.
	Log *zerolog.Logger
	// QRRefs is how many QR refs a pairing connection gets. Defaults to 6.
	QRRefs int
	// StateFile, when set, is loaded at Start (if it exists) and written at Close, so a restarted
	// server keeps its keys, CA, accounts, devices, groups, queues and media.
	StateFile string
}

// Server is a running WhatsApp test server. Create it with Start and stop it with Close.
type Server struct {
	log    zerolog.Logger
	opts   Options
	ctx    context.Context
	cancel context.CancelFunc

	root      *keys.KeyPair
	static    *keys.KeyPair
	certChain []byte
	ca        *testCA

	tlsListener   net.Listener
	httpServer    *http.Server
	proxyListener net.Listener
	proxyServer   *http.Server

	mu           sync.Mutex
	accounts     map[string]*account // by phone number
	accountsLID  map[string]*account // by LID user
	nextLID      uint64
	pairings     map[string]*pairing // by QR ref
	codePairings map[string]*pairing // by phone number
	groups       map[string]*group
	inviteCodes  map[string]string // invite code → group ID, revoked codes included
	media        map[string]*mediaBlob
	avatars      map[string]*avatar
	calls        []CallRecord
	newsletters  map[string]*newsletter // by channel ID; in memory only (not in StateFile)

	usyncQueries atomic.Int64 // for tests: a matching participant hash spares a device-list query
	mediaAuth    string
	conns        map[*conn]struct{}
	idCounter    uint64

	wg sync.WaitGroup
}

// Start creates a server and starts its TLS listener and HTTP CONNECT proxy on 127.0.0.1.
func Start(opts Options) (*Server, error) {
	log := zerolog.Nop()
	if opts.Log != nil {
		log = *opts.Log
	}
	if opts.QRRefs <= 0 {
		opts.QRRefs = 6
	}
	ca, err := newTestCA()
	if err != nil {
		return nil, err
	}
	srv := &Server{
		log:          log,
		opts:         opts,
		root:         keys.NewKeyPair(),
		static:       keys.NewKeyPair(),
		ca:           ca,
		accounts:     map[string]*account{},
		accountsLID:  map[string]*account{},
		nextLID:      100000000000001,
		pairings:     map[string]*pairing{},
		codePairings: map[string]*pairing{},
		groups:       map[string]*group{},
		media:        map[string]*mediaBlob{},
		mediaAuth:    randomString(24),
		conns:        map[*conn]struct{}{},
	}
	srv.ctx, srv.cancel = context.WithCancel(context.Background())
	if opts.StateFile != "" {
		if err = srv.loadState(opts.StateFile); err != nil {
			return nil, err
		}
	}
	if srv.certChain, err = makeCertChain(srv.root, srv.static); err != nil {
		return nil, fmt.Errorf("make noise certificate chain: %w", err)
	}

	srv.tlsListener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for TLS: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/ws/chat", srv.serveWebsocket)
	mux.HandleFunc("/mms/", srv.serveUpload)
	mux.HandleFunc("/v/", srv.serveDownload)
	srv.httpServer = &http.Server{
		Handler: mux,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{srv.ca.leaf},
			NextProtos:   []string{"http/1.1"},
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          nil,
	}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		err := srv.httpServer.Serve(tls.NewListener(srv.tlsListener, srv.httpServer.TLSConfig))
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.log.Err(err).Msg("TLS listener stopped")
		}
	}()

	srv.proxyListener, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.Close()
		return nil, fmt.Errorf("listen for the CONNECT proxy: %w", err)
	}
	srv.proxyServer = &http.Server{Handler: http.HandlerFunc(srv.serveProxy), ReadHeaderTimeout: 10 * time.Second}
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		err := srv.proxyServer.Serve(srv.proxyListener)
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			srv.log.Err(err).Msg("proxy listener stopped")
		}
	}()
	return srv, nil
}

// Close disconnects every client and stops the listeners; with Options.StateFile it saves the
// state first (a failure is logged).
func (srv *Server) Close() {
	if srv.opts.StateFile != "" {
		if err := srv.SaveState(srv.opts.StateFile); err != nil {
			srv.log.Err(err).Msg("Failed to save the server state")
		}
	}
	srv.cancel()
	srv.mu.Lock()
	conns := make([]*conn, 0, len(srv.conns))
	for c := range srv.conns {
		conns = append(conns, c)
	}
	srv.mu.Unlock()
	for _, c := range conns {
		c.close(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if srv.httpServer != nil {
		_ = srv.httpServer.Shutdown(ctx)
		_ = srv.httpServer.Close()
	}
	if srv.proxyServer != nil {
		_ = srv.proxyServer.Shutdown(ctx)
		_ = srv.proxyServer.Close()
	}
	srv.wg.Wait()
}

// RootPublicKey is the key whatsmeow must trust: set whatsmeow.WACertPubKey to it.
func (srv *Server) RootPublicKey() [32]byte { return *srv.root.Pub }

// RootPublicKeyBase64 is RootPublicKey in standard base64, the form of the bridge's
// server.root_public_key setting.
func (srv *Server) RootPublicKeyBase64() string {
	return base64.StdEncoding.EncodeToString(srv.root.Pub[:])
}

// CACertPEM is the PEM certificate of the test CA that signed the TLS certificate.
func (srv *Server) CACertPEM() []byte { return append([]byte(nil), srv.ca.certPEM...) }

// WriteCAFile writes CACertPEM to path (the bridge's server.ca_file setting).
func (srv *Server) WriteCAFile(path string) error {
	if err := os.WriteFile(path, srv.ca.certPEM, 0o600); err != nil {
		return fmt.Errorf("write test CA to %s: %w", path, err)
	}
	return nil
}

// ProxyURL is the HTTP CONNECT proxy address, e.g. "http://127.0.0.1:41234", for
// Client.SetProxyAddress or the bridge's network.whatsapp.proxy setting.
func (srv *Server) ProxyURL() string { return "http://" + srv.proxyListener.Addr().String() }

// TLSAddr is the loopback address of the TLS listener that serves the websocket and media.
func (srv *Server) TLSAddr() string { return srv.tlsListener.Addr().String() }

func (srv *Server) nextID() string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	srv.idCounter++
	return fmt.Sprintf("srv.%d", srv.idCounter)
}

func (srv *Server) serveWebsocket(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		srv.log.Warn().Err(err).Msg("Websocket upgrade failed")
		return
	}
	ws.SetReadLimit(maxFrameSize + 16)
	ctx, cancel := context.WithCancel(srv.ctx)
	c := &conn{srv: srv, ws: ws, ctx: ctx, cancel: cancel, done: make(chan struct{}), waiters: map[string]chan *waBinary.Node{}}
	c.log = srv.log.With().Str("remote", r.RemoteAddr).Logger()
	srv.mu.Lock()
	srv.conns[c] = struct{}{}
	srv.mu.Unlock()
	defer func() {
		c.close(nil)
		srv.connGone(c)
		close(c.done)
	}()
	if err = c.handshake(ctx); err != nil {
		c.log.Warn().Err(err).Msg("Noise handshake failed")
		return
	}
	if !srv.admit(c) {
		return
	}
	for {
		node, err := c.readNode(ctx)
		if err != nil {
			if ctx.Err() == nil && !c.closed.Load() {
				c.log.Debug().Err(err).Msg("Connection ended")
			}
			return
		}
		if c.log.GetLevel() <= zerolog.TraceLevel {
			c.log.Trace().Str("node", node.XMLString()).Msg("Received node")
		}
		srv.dispatch(c, node)
	}
}

// admit decides what a freshly handshaken connection is: a saved device logging in, or a new
// device that wants to pair.
func (srv *Server) admit(c *conn) bool {
	if c.payload.Username == nil {
		return srv.startPairing(c)
	}
	jid := types.JID{User: fmt.Sprint(c.payload.GetUsername()), Device: uint16(c.payload.GetDevice()), Server: types.DefaultUserServer}
	c.log = c.log.With().Stringer("device", jid).Logger()
	srv.mu.Lock()
	dev := srv.deviceLocked(jid)
	if dev == nil || dev.noise != c.clientStatic {
		srv.mu.Unlock()
		c.log.Info().Msg("Login refused: device unknown or logged out")
		c.close(&waBinary.Node{Tag: "failure", Attrs: waBinary.Attrs{"reason": 401, "location": "test"}})
		return false
	}
	old := dev.conn
	dev.conn = c
	dev.active = false
	c.device = dev
	lid := dev.lidJID()
	srv.mu.Unlock()
	if old != nil {
		c.log.Info().Msg("Device connected again: replacing the older connection")
		old.close(&waBinary.Node{Tag: "stream:error", Content: []waBinary.Node{{Tag: "conflict", Attrs: waBinary.Attrs{"type": "replaced"}}}})
	}
	err := c.send(waBinary.Node{Tag: "success", Attrs: waBinary.Attrs{
		"t":        time.Now().Unix(),
		"props":    "1",
		"location": "test",
		"lid":      lid,
	}})
	if err != nil {
		c.log.Warn().Err(err).Msg("Failed to send login success")
		return false
	}
	c.log.Info().Msg("Device logged in")
	return true
}

// connGone forgets a closed connection.
func (srv *Server) connGone(c *conn) {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	delete(srv.conns, c)
	if c.device != nil && c.device.conn == c {
		c.device.conn = nil
		c.device.active = false
	}
	if c.pairing != nil {
		srv.dropPairingLocked(c.pairing)
	}
	c.failWaiters()
}

// dispatch routes one node from a client.
func (srv *Server) dispatch(c *conn, node *waBinary.Node) {
	if node.Tag == "iq" {
		if typ, _ := node.Attrs["type"].(string); typ == "result" || typ == "error" {
			c.resolveWaiter(node)
			return
		}
	}
	if c.device == nil {
		srv.handlePairingNode(c, node)
		return
	}
	switch node.Tag {
	case "iq":
		srv.handleIQ(c, node)
	case "message":
		srv.handleMessage(c, node)
	case "receipt":
		srv.handleReceipt(c, node)
	case "ack":
		srv.handleAck(c, node)
	case "presence":
		srv.handlePresence(c, node)
	case "chatstate":
		srv.handleChatState(c, node)
	case "call":
		srv.handleCall(c, node)
	default:
		c.log.Debug().Str("tag", node.Tag).Msg("Ignoring node the test server does not handle")
	}
}
