package tgtestserver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tgtest"
)

// maxSessionsPerKey bounds the sessions remembered per auth key. A gotd
// client speaks through one session at a time and takes a new session ID on
// every reconnect, so older ones are almost always dead; dropping the least
// recently used keeps a long-running demo server from collecting them.
const maxSessionsPerKey = 4

// pushQueueSize bounds the updates waiting for one session; a session that
// falls this far behind loses pushes and catches up with getDifference, as a
// slow client does on Telegram.
const pushQueueSize = 512

// authKeyState is what the server knows about one auth key: which account
// (if any) it is logged in as and the MTProto sessions it has spoken through.
type authKeyState struct {
	keyID    [8]byte
	userID   int64
	hash     int64 // authorization hash, as account.getAuthorizations lists it
	created  time.Time
	sessions map[int64]*sessionConn
}

// sessionConn is one MTProto session with its own ordered push queue.
type sessionConn struct {
	sess tgtest.Session
	ch   chan bin.Encoder
	done chan struct{}
	once sync.Once
	seen time.Time
}

func (c *sessionConn) stop() { c.once.Do(func() { close(c.done) }) }

// sessionRegistry remembers sessions per auth key and delivers pushes.
type sessionRegistry struct {
	srv *Server

	mu     sync.Mutex
	keys   map[[8]byte]*authKeyState
	closed bool
}

func newSessionRegistry(srv *Server) *sessionRegistry {
	return &sessionRegistry{srv: srv, keys: map[[8]byte]*authKeyState{}}
}

// touch records that sess made a request and returns its key's state.
func (r *sessionRegistry) touch(sess tgtest.Session) (keyID [8]byte, userID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := r.keys[sess.AuthKey.ID]
	if k == nil {
		var hb [8]byte
		_, _ = rand.Read(hb[:])
		k = &authKeyState{
			keyID:    sess.AuthKey.ID,
			hash:     int64(binary.LittleEndian.Uint64(hb[:]) >> 1),
			created:  r.srv.now(),
			sessions: map[int64]*sessionConn{},
		}
		r.keys[sess.AuthKey.ID] = k
	}
	now := r.srv.now()
	if c, ok := k.sessions[sess.ID]; ok {
		c.seen = now
	} else if !r.closed {
		c := &sessionConn{sess: sess, ch: make(chan bin.Encoder, pushQueueSize), done: make(chan struct{}), seen: now}
		k.sessions[sess.ID] = c
		go r.pushLoop(k.keyID, c)
		for len(k.sessions) > maxSessionsPerKey {
			var oldest *sessionConn
			for _, s := range k.sessions {
				if oldest == nil || s.seen.Before(oldest.seen) {
					oldest = s
				}
			}
			delete(k.sessions, oldest.sess.ID)
			oldest.stop()
			go r.srv.mt.ForceDisconnect(oldest.sess)
		}
	}
	return k.keyID, k.userID
}

func (r *sessionRegistry) pushLoop(keyID [8]byte, c *sessionConn) {
	for {
		select {
		case <-c.done:
			return
		case msg := <-c.ch:
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err := r.srv.mt.Send(ctx, c.sess, tgtest.MessageFromServer, msg)
			cancel()
			if err != nil {
				r.srv.log.Debug().Err(err).Int64("session_id", c.sess.ID).Msg("Session gone, dropping it")
				r.dropSession(keyID, c.sess.ID)
				return
			}
		}
	}
}

func (r *sessionRegistry) dropSession(keyID [8]byte, sessionID int64) {
	r.mu.Lock()
	k := r.keys[keyID]
	var c *sessionConn
	if k != nil {
		c = k.sessions[sessionID]
		delete(k.sessions, sessionID)
	}
	r.mu.Unlock()
	if c != nil {
		c.stop()
		r.srv.mt.ForceDisconnect(c.sess)
	}
}

// bind logs the auth key in as userID (0 logs it out).
func (r *sessionRegistry) bind(keyID [8]byte, userID int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := r.keys[keyID]; k != nil {
		k.userID = userID
	}
}

// userOf is the account an auth key is logged in as, 0 when none.
func (r *sessionRegistry) userOf(keyID [8]byte) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := r.keys[keyID]; k != nil {
		return k.userID
	}
	return 0
}

// pushUser queues msg for every session logged in as userID except the one
// with session ID except (the caller, who gets the RPC result instead).
func (r *sessionRegistry) pushUser(userID int64, except int64, msg bin.Encoder) {
	if userID == 0 {
		return
	}
	msg, ok := r.preEncode(msg)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, k := range r.keys {
		if k.userID != userID {
			continue
		}
		for id, c := range k.sessions {
			if id == except {
				continue
			}
			r.enqueue(c, msg)
		}
	}
}

// pushKey queues msg for every session of one auth key (used for
// updateLoginToken, which goes to a key that is not logged in yet).
func (r *sessionRegistry) pushKey(keyID [8]byte, msg bin.Encoder) {
	msg, ok := r.preEncode(msg)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if k := r.keys[keyID]; k != nil {
		for _, c := range k.sessions {
			r.enqueue(c, msg)
		}
	}
}

// preEncode encodes a push once, so several sessions' push loops never
// encode (and so mutate the flags of) one TL object concurrently.
func (r *sessionRegistry) preEncode(msg bin.Encoder) (bin.Encoder, bool) {
	var b bin.Buffer
	if err := msg.Encode(&b); err != nil {
		r.srv.log.Error().Err(err).Str("type", fmt.Sprintf("%T", msg)).Msg("Encoding a push failed")
		return nil, false
	}
	return rawResult(b.Buf), true
}

func (r *sessionRegistry) enqueue(c *sessionConn, msg bin.Encoder) {
	select {
	case c.ch <- msg:
	default:
		r.srv.log.Warn().Int64("session_id", c.sess.ID).Msg("Push queue full, update dropped (client will need getDifference)")
	}
}

// revoke logs out the given auth keys and cuts their connections, so their
// clients next hear AUTH_KEY_UNREGISTERED.
func (r *sessionRegistry) revoke(match func(k *authKeyState) bool) int {
	r.mu.Lock()
	var cut []*sessionConn
	n := 0
	for _, k := range r.keys {
		if k.userID == 0 || !match(k) {
			continue
		}
		n++
		k.userID = 0
		for id, c := range k.sessions {
			cut = append(cut, c)
			delete(k.sessions, id)
		}
	}
	r.mu.Unlock()
	for _, c := range cut {
		c.stop()
		r.srv.mt.ForceDisconnect(c.sess)
	}
	return n
}

// authorizations lists the logged-in auth keys of userID.
func (r *sessionRegistry) authorizations(userID int64) []authKeyState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []authKeyState
	for _, k := range r.keys {
		if k.userID == userID {
			out = append(out, authKeyState{keyID: k.keyID, userID: k.userID, hash: k.hash, created: k.created})
		}
	}
	return out
}

// connected reports how many live sessions userID has.
func (r *sessionRegistry) connected(userID int64) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, k := range r.keys {
		if k.userID == userID {
			n += len(k.sessions)
		}
	}
	return n
}

func (r *sessionRegistry) closeAll() {
	r.mu.Lock()
	r.closed = true
	var all []*sessionConn
	for _, k := range r.keys {
		for id, c := range k.sessions {
			all = append(all, c)
			delete(k.sessions, id)
		}
	}
	r.mu.Unlock()
	for _, c := range all {
		c.stop()
		r.srv.mt.ForceDisconnect(c.sess)
	}
}

func keyHex(id [8]byte) string { return hex.EncodeToString(id[:]) }
