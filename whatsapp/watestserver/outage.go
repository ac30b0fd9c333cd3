package watestserver

import (
	"fmt"
	"net"
	"sync"
)

// outages remembers, per server, the address of a proxy listener closed by CutProxy. It lives
// beside Server rather than in it so that the outage control stays in this file.
var outages sync.Map // *Server → string (the proxy address)

// CutProxy begins a network outage for the processes that reach the server through its CONNECT
// proxy, as a bridge under test does: the proxy stops listening, so their reconnects are refused
// as on a dead network, and the connections of the devices of the given accounts (phone numbers)
// are closed. Phones made in this process connect directly and keep working, so a contact can
// still be watched. It reports how many connections were closed. RestoreProxy ends the outage;
// accounts, devices and queued messages are kept, so clients resume without pairing again.
func (srv *Server) CutProxy(phones ...string) (int, error) {
	addr := srv.proxyListener.Addr().String()
	if _, loaded := outages.LoadOrStore(srv, addr); loaded {
		return 0, fmt.Errorf("the proxy is already cut")
	}
	if err := srv.proxyListener.Close(); err != nil {
		return 0, fmt.Errorf("close the proxy listener: %w", err)
	}
	cut := map[string]bool{}
	for _, p := range phones {
		cut[p] = true
	}
	srv.mu.Lock()
	var conns []*conn
	for c := range srv.conns {
		if c.device != nil && cut[c.device.acct.phone] {
			conns = append(conns, c)
		}
	}
	srv.mu.Unlock()
	for _, c := range conns {
		c.close(nil)
	}
	return len(conns), nil
}

// RestoreProxy ends an outage begun by CutProxy: the proxy listens again on the same address.
func (srv *Server) RestoreProxy() error {
	v, ok := outages.LoadAndDelete(srv)
	if !ok {
		return nil
	}
	l, err := net.Listen("tcp", v.(string))
	if err != nil {
		return fmt.Errorf("listen for the CONNECT proxy again on %s: %w", v, err)
	}
	srv.proxyListener = l
	srv.wg.Add(1)
	go func() {
		defer srv.wg.Done()
		// Serve ends with an error when a later CutProxy closes l, and with ErrServerClosed at Close.
		_ = srv.proxyServer.Serve(l)
	}()
	return nil
}

// lostAcks holds, per server, the accounts whose next message loses its acknowledgement
// (LoseNextAck): phone → channel closed when it happened.
var lostAcks sync.Map // *Server → *sync.Map (phone → chan struct{})

// LoseNextAck makes the next message an account sends through the proxy reach its recipients
// while the sender never hears back: instead of the acknowledgement, the proxy is cut (CutProxy
// for that account), as when a mobile network drops right after the upload. The sender cannot
// know whether the message arrived, so a client that sends it again must not make a second
// message of it. The returned channel is closed once the outage began; RestoreProxy ends it.
func (srv *Server) LoseNextAck(phone string) <-chan struct{} {
	m, _ := lostAcks.LoadOrStore(srv, &sync.Map{})
	done := make(chan struct{})
	m.(*sync.Map).Store(phone, done)
	return done
}

// takeLostAck reports whether the message just relayed for phone must lose its
// acknowledgement, and disarms the fault; the caller then calls loseAck.
func (srv *Server) takeLostAck(phone string) (chan struct{}, bool) {
	m, ok := lostAcks.Load(srv)
	if !ok {
		return nil, false
	}
	done, ok := m.(*sync.Map).LoadAndDelete(phone)
	if !ok {
		return nil, false
	}
	return done.(chan struct{}), true
}

// loseAck cuts the proxy for phone instead of acknowledging its message.
func (srv *Server) loseAck(phone string, done chan struct{}) {
	if _, err := srv.CutProxy(phone); err != nil {
		srv.log.Warn().Err(err).Str("phone", phone).Msg("LoseNextAck: could not cut the proxy")
	}
	close(done)
}
