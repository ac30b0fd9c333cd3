package tgtestserver

import (
	"errors"
	"net"
	"sync"
)

// outage lets a test cut the network between clients and the server, as a real outage would:
// open connections are closed and new ones are closed right after they are accepted, until the
// outage ends. Auth keys and sessions stay, so clients resume without logging in again.
type outage struct {
	mu    sync.Mutex
	down  bool
	conns map[net.Conn]struct{}
	// lose holds the accounts whose next sent message loses its answer (LoseNextAnswer).
	lose map[int64]chan struct{}
}

// gateListener is the server's listener with the outage applied.
type gateListener struct {
	net.Listener
	o *outage
}

func (g *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil {
			return nil, err
		}
		g.o.mu.Lock()
		if g.o.down {
			g.o.mu.Unlock()
			_ = c.Close()
			continue
		}
		if g.o.conns == nil {
			g.o.conns = map[net.Conn]struct{}{}
		}
		tc := &trackedConn{Conn: c, o: g.o}
		g.o.conns[tc] = struct{}{}
		g.o.mu.Unlock()
		return tc, nil
	}
}

type trackedConn struct {
	net.Conn
	o *outage
}

func (c *trackedConn) Close() error {
	c.o.mu.Lock()
	delete(c.o.conns, c)
	c.o.mu.Unlock()
	return c.Conn.Close()
}

// CutNetwork closes every client connection and refuses new ones until RestoreNetwork. It
// reports how many connections were open.
func (s *Server) CutNetwork() int {
	s.outage.mu.Lock()
	s.outage.down = true
	conns := make([]net.Conn, 0, len(s.outage.conns))
	for c := range s.outage.conns {
		conns = append(conns, c)
	}
	s.outage.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}

// RestoreNetwork ends an outage begun by CutNetwork.
func (s *Server) RestoreNetwork() {
	s.outage.mu.Lock()
	s.outage.down = false
	s.outage.mu.Unlock()
}

// errAnswerLost is what a handler returns for a request whose answer LoseNextAnswer dropped; the
// connection is closed by then, so the client never reads it.
var errAnswerLost = errors.New("tgtestserver: the answer was lost in a network outage")

// LoseNextAnswer makes the next message the account userID sends (messages.sendMessage or
// sendMedia) be stored and delivered while the sender never gets the answer: the network is cut
// (CutNetwork) instead, as when a connection drops right after the upload. The channel is closed
// once the outage began; RestoreNetwork ends it.
func (s *Server) LoseNextAnswer(userID int64) <-chan struct{} {
	done := make(chan struct{})
	s.outage.mu.Lock()
	if s.outage.lose == nil {
		s.outage.lose = map[int64]chan struct{}{}
	}
	s.outage.lose[userID] = done
	s.outage.mu.Unlock()
	return done
}

// loseAnswer reports whether the answer to userID's message must be lost, and if so cuts the
// network first.
func (s *Server) loseAnswer(userID int64) bool {
	s.outage.mu.Lock()
	done, ok := s.outage.lose[userID]
	delete(s.outage.lose, userID)
	s.outage.mu.Unlock()
	if !ok {
		return false
	}
	s.CutNetwork()
	close(done)
	return true
}
