// Package tgtestserver is a Telegram server of the project's own, for tests,
// demos and benchmarks of the Telegram connector.
//
// No Telegram server is reachable where Passerelle is built and tested, so the
// connector is proven against this one. It speaks real MTProto through gotd's
// tgtest package (RSA/DH key exchange, encrypted messages) and answers the TL
// methods a bridge uses with the shapes Telegram answers them with: accounts,
// contacts, DMs, basic groups, supergroups, channels, forum topics, a message
// store with pts/qts/date and per-channel pts, update pushes to connected
// sessions, getDifference catch-up, files, code/2FA/QR/bot login and injected
// FLOOD_WAIT errors. A gotd client needs nothing but the server's address and
// public key (see Server.ClientOptions), so a bridge binary in another process
// can use it with only its config.
//
// Use:
//
//	srv, _ := tgtestserver.New(tgtestserver.Options{Logger: log})      // or Addr/KeyFile for a fixed endpoint
//	_ = srv.Start(ctx); defer srv.Close()
//	alice, _ := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000001", FirstName: "Alice"})
//	opts := srv.ClientOptions()                                         // DC, DCList, PublicKeys, Resolver
//	// client: auth.sendCode, then srv.LastCode(phone), auth.signIn …
//	alice.SendText(tgtestserver.UserPeer(bobID), "hi")                  // scripted side
//	srv.History(aliceID, tgtestserver.UserPeer(bobID))                  // what a bridge sent
//
// Shapes follow Telegram: plain DM/basic-group texts are pushed as
// updateShortMessage/updateShortChatMessage (Options.FullUpdates for the long
// form); the sender of messages.sendMessage gets updateShortSentMessage in
// DMs and basic groups and updates{updateMessageID, updateNewChannelMessage}
// in channels; each participant of a DM or basic group has its own message
// IDs and pts; deletions there are updateDeleteMessages with IDs only; access
// hashes differ per viewing account, a wrong one gets PEER_ID_INVALID /
// CHANNEL_INVALID; nothing is queued for offline sessions (getDifference and
// updateChannelTooLong + getChannelDifference are how they catch up).
//
// Limits: auth keys live in memory (a restarted server forces a new login),
// there is no auth.bindTempAuthKey (clients must not enable PFS), seq is
// always 0 (containers are unordered; pts carries the order), qts is unused,
// and every object lives in one process-wide store guarded by one mutex.
package tgtestserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/gotd/td/crypto"
	"github.com/gotd/td/exchange"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/dcs"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgtest"
	"github.com/gotd/td/transport"
	"github.com/rs/zerolog"
)

// Options configure a Server. The zero value is usable: a fresh 2048-bit key,
// DC 2 on a random loopback port.
type Options struct {
	// Addr is the TCP address to listen on; "127.0.0.1:0" when empty. Use a
	// fixed port so a bridge configured with it survives server restarts.
	Addr string
	// DC is the data-center ID the server claims to be; 2 when zero.
	DC int
	// Key is the server's RSA key. When nil, KeyFile is read, or a new key is
	// generated (and written to KeyFile when it is set).
	Key *rsa.PrivateKey
	// KeyFile is a PEM (PKCS#1 or PKCS#8) RSA private key, so a demo keeps the
	// same public key across runs; created when missing.
	KeyFile string
	// Logger receives the server's structured log. Required TL fields left nil
	// only show up here, so give tests a real logger.
	Logger zerolog.Logger
	// CodeLength is the number of digits of login codes; 5 when zero.
	CodeLength int
	// Now is the clock for message dates; time.Now when nil.
	Now func() time.Time
	// FullUpdates pushes new text messages in DMs and basic groups as
	// updates{updateNewMessage} with users and chats. By default the server
	// does what Telegram does and sends updateShortMessage /
	// updateShortChatMessage, which name no access hashes (a client that
	// does not know the sender must call getDifference).
	FullUpdates bool
	// OnCode is told every login code the server "sends", so a demo can
	// show it (tests can use LastCode instead). It must not block.
	OnCode func(phone, code string)
}

// Server is a running (or ready to run) Telegram test server.
type Server struct {
	opts Options
	log  zerolog.Logger
	key  *rsa.PrivateKey
	mt   *tgtest.Server

	mu       sync.Mutex
	state    *store
	listener net.Listener
	cancel   context.CancelFunc
	done     chan struct{}
	closed   bool

	sessions *sessionRegistry
	flood    *floodInjector
	outage   outage

	dispatchOnce sync.Once
	disp         *tg.ServerDispatcher
}

// New prepares a Server: it loads or generates the RSA key and builds the
// store. Nothing listens until Start.
func New(opts Options) (*Server, error) {
	if opts.DC == 0 {
		opts.DC = 2
	}
	if opts.DC < 0 || opts.DC > 1000 {
		return nil, fmt.Errorf("tgtestserver: Options.DC %d out of range: use 1..1000", opts.DC)
	}
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.CodeLength == 0 {
		opts.CodeLength = 5
	}
	if opts.CodeLength < 4 || opts.CodeLength > 9 {
		return nil, fmt.Errorf("tgtestserver: Options.CodeLength %d out of range: use 4..9", opts.CodeLength)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	key := opts.Key
	if key == nil {
		var err error
		key, err = loadOrCreateKey(opts.KeyFile)
		if err != nil {
			return nil, err
		}
	}
	s := &Server{
		opts:  opts,
		log:   opts.Logger.With().Str("component", "tgtestserver").Int("dc", opts.DC).Logger(),
		key:   key,
		flood: newFloodInjector(),
	}
	s.state = newStore(s)
	s.sessions = newSessionRegistry(s)
	s.mt = tgtest.NewServer(tgtest.NewPrivateKey(key), tgtest.UnpackInvoke(tgtest.HandlerFunc(s.onMessage)), tgtest.ServerOptions{
		DC:     opts.DC,
		Logger: newGotdLogger(s.log.With().Str("layer", "mtproto").Logger()),
		// Idle clients ping once a minute; tgtest's default 30 s read timeout
		// would drop them and lose the updates pushed meanwhile.
		ReadTimeout:  24 * time.Hour,
		WriteTimeout: 30 * time.Second,
	})
	return s, nil
}

// loadOrCreateKey reads an RSA private key from path, or generates one and
// writes it there. An empty path only generates.
func loadOrCreateKey(path string) (*rsa.PrivateKey, error) {
	if path != "" {
		data, err := os.ReadFile(path)
		switch {
		case err == nil:
			return parsePrivateKey(path, data)
		case !errors.Is(err, fs.ErrNotExist):
			return nil, fmt.Errorf("tgtestserver: read key file %s: %w", path, err)
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("tgtestserver: generate RSA key: %w", err)
	}
	if path != "" {
		if err := os.WriteFile(path, encodeKey(key), 0o600); err != nil {
			return nil, fmt.Errorf("tgtestserver: write key file %s: %w", path, err)
		}
	}
	return key, nil
}

// encodeKey is the PEM (PKCS#1) form of key.
func encodeKey(key *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
}

func parsePrivateKey(path string, data []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("tgtestserver: key file %s holds no PEM block: expected an RSA PRIVATE KEY", path)
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("tgtestserver: parse key file %s: %w", path, err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("tgtestserver: key file %s holds a %T, expected an RSA key", path, k)
	}
	if rk.N.BitLen() != 2048 {
		return nil, fmt.Errorf("tgtestserver: key file %s holds a %d-bit key, MTProto needs 2048 bits", path, rk.N.BitLen())
	}
	return rk, nil
}

// Start listens on Options.Addr and serves until ctx ends or Close is called.
// It returns once the listener is bound, so Addr is valid afterwards.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("tgtestserver: Start after Close: create a new Server")
	}
	if s.listener != nil {
		return errors.New("tgtestserver: already started")
	}
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("tgtestserver: listen on %s: %w", s.opts.Addr, err)
	}
	l = &gateListener{Listener: l, o: &s.outage}
	s.listener = l
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.cancel = cancel
	s.done = make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			cancel()
		case <-runCtx.Done():
		}
	}()
	go func() {
		defer close(s.done)
		if err := s.mt.Serve(runCtx, transport.ListenCodec(nil, l)); err != nil && runCtx.Err() == nil {
			s.log.Error().Err(err).Msg("serve stopped")
		}
	}()
	s.log.Info().Str("addr", l.Addr().String()).Msg("Telegram test server listening")
	return nil
}

// Close stops listening, drops every connection and stops the scripted
// responders. The store is kept in memory but the Server cannot be restarted.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	cancel, done := s.cancel, s.done
	s.mu.Unlock()
	s.state.stopResponders()
	s.sessions.closeAll()
	if cancel != nil {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			return errors.New("tgtestserver: serve loop did not stop within 10s")
		}
	}
	return nil
}

// Addr is the address the server listens on ("127.0.0.1:PORT"); empty before
// Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.listener == nil {
		return ""
	}
	return s.listener.Addr().String()
}

// DC is the data-center ID of this server.
func (s *Server) DC() int { return s.opts.DC }

// PublicKey is the server's RSA public key as gotd wants it.
func (s *Server) PublicKey() telegram.PublicKey {
	return exchange.PublicKey{RSA: &s.key.PublicKey}
}

// PublicKeysPEM returns the server's RSA public key in PEM (PKCS#1), the form
// a bridge config carries under server.public_keys.
func (s *Server) PublicKeysPEM() []string {
	block := &pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&s.key.PublicKey)}
	return []string{string(pem.EncodeToMemory(block))}
}

// DCOptions lists this server as the only DC, as help.getConfig reports it.
func (s *Server) DCOptions() []tg.DCOption {
	host, portStr, err := net.SplitHostPort(s.Addr())
	if err != nil {
		return nil
	}
	port, _ := strconv.Atoi(portStr)
	ip := net.ParseIP(host)
	return []tg.DCOption{{
		ID:        s.opts.DC,
		IPAddress: host,
		Port:      port,
		Ipv6:      ip != nil && ip.To4() == nil,
		Static:    true,
	}}
}

// ClientOptions returns the telegram.Options fields a gotd client needs to
// reach this server: DC, DCList, PublicKeys and a plain TCP Resolver. Callers
// add SessionStorage, UpdateHandler, Logger… and must leave EnablePFS off.
func (s *Server) ClientOptions() telegram.Options {
	return telegram.Options{
		DC:         s.opts.DC,
		DCList:     dcs.List{Options: s.DCOptions()},
		PublicKeys: []telegram.PublicKey{s.PublicKey()},
		Resolver:   dcs.Plain(dcs.PlainOptions{}),
	}
}

func (s *Server) now() time.Time { return s.opts.Now() }

func (s *Server) unix() int { return int(s.opts.Now().Unix()) }

// ParsePublicKeysPEM turns PEM RSA public keys (PKCS#1 or PKIX), as a
// bridge config lists them, into gotd's form for telegram.Options.PublicKeys.
func ParsePublicKeysPEM(pems []string) ([]telegram.PublicKey, error) {
	var out []telegram.PublicKey
	for i, p := range pems {
		keys, err := crypto.ParseRSAPublicKeys([]byte(p))
		if err != nil {
			return nil, fmt.Errorf("public key %d: %w", i, err)
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("public key %d: no PEM block found: expected \"-----BEGIN RSA PUBLIC KEY-----\"", i)
		}
		for _, k := range keys {
			out = append(out, telegram.PublicKey{RSA: k})
		}
	}
	return out, nil
}
