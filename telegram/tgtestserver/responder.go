package tgtestserver

import (
	"strings"
	"sync"
)

// Incoming is a message that reached a scripted account with a responder.
type Incoming struct {
	// Peer is the chat as the responder's account sees it (for a DM, the
	// sender).
	Peer Peer
	// ID is the message ID in the responder's box (or the channel).
	ID   int
	From int64
	Text string
	// Media is "", "photo" or "document".
	Media string
}

// ResponderFunc reacts to an incoming message as the account me (send a
// reply, read, react…). It runs on its own goroutine, one message at a time.
type ResponderFunc func(me *Actor, in Incoming)

type responder struct {
	userID int64
	fn     ResponderFunc
	ch     chan Incoming
	done   chan struct{}
	once   sync.Once
}

// SetResponder makes account userID answer messages it receives (from other
// accounts) with fn; nil removes it. Demos use it for "a contact who
// answers".
func (s *Server) SetResponder(userID int64, fn ResponderFunc) {
	st := s.state
	st.respMu.Lock()
	defer st.respMu.Unlock()
	kept := st.responders[:0]
	for _, r := range st.responders {
		if r.userID == userID {
			r.stop()
			continue
		}
		kept = append(kept, r)
	}
	st.responders = kept
	if fn == nil {
		return
	}
	r := &responder{userID: userID, fn: fn, ch: make(chan Incoming, 256), done: make(chan struct{})}
	st.responders = append(st.responders, r)
	me := &Actor{srv: s, id: userID}
	go func() {
		for {
			select {
			case <-r.done:
				return
			case in := <-r.ch:
				r.fn(me, in)
			}
		}
	}()
}

func (r *responder) stop() { r.once.Do(func() { close(r.done) }) }

func (st *store) stopResponders() {
	st.respMu.Lock()
	defer st.respMu.Unlock()
	for _, r := range st.responders {
		r.stop()
	}
	st.responders = nil
}

// notify hands an incoming message to userID's responder, if any.
func (st *store) notify(userID int64, in Incoming) {
	st.respMu.Lock()
	defer st.respMu.Unlock()
	for _, r := range st.responders {
		if r.userID == userID {
			select {
			case r.ch <- in:
			default:
			}
		}
	}
}

// queueIncoming arranges for owner's responder to see m after the
// transaction commits.
func (t *tx) queueIncoming(owner int64, m *message) {
	if m.action != nil || m.from == owner {
		return
	}
	in := Incoming{Peer: fromKey(m.peer), ID: m.id, From: m.from, Text: m.text}
	if m.media != nil {
		switch {
		case m.media.photo != nil:
			in.Media = "photo"
		case m.media.doc != nil:
			in.Media = "document"
		default:
			in.Media = "other"
		}
	}
	st := t.st
	t.after = append(t.after, func() { st.notify(owner, in) })
}

// EchoResponder answers every text with prefix + the text, and marks it
// read first, like a contact who reads and answers.
func EchoResponder(prefix string) ResponderFunc {
	return func(me *Actor, in Incoming) {
		_ = me.Read(in.Peer, in.ID)
		text := in.Text
		if text == "" && in.Media != "" {
			text = "(" + in.Media + ")"
		}
		if strings.TrimSpace(text) == "" {
			return
		}
		_, _ = me.Send(in.Peer, Message{Text: prefix + text, ReplyTo: in.ID})
	}
}
