package tgtestserver

import (
	"sort"

	"github.com/gotd/td/tg"
)

// StoredMessage is a message as one account's box holds it, for assertions
// about what a bridge sent.
type StoredMessage struct {
	ID       int
	Peer     Peer
	From     int64
	Date     int
	Text     string
	Entities []tg.MessageEntityClass
	// Media is "", "photo", "document", "geo", "geolive", "venue", "contact", "poll" or
	// "webpage" (a link preview).
	Media      string
	MimeType   string
	Attributes []tg.DocumentAttributeClass
	// Data is the media's bytes (the largest photo size).
	Data []byte
	// MediaObject is the media as clients get it (for geo, venue and
	// contact details).
	MediaObject tg.MessageMediaClass
	ReplyTo     int
	TopicID     int
	EditDate    int
	// Action is the service action of a service message.
	Action tg.MessageActionClass
	// Reactions maps user ID to emoticon.
	Reactions map[int64]string
	// Mentioned is set on the copy of a user the message mentions.
	Mentioned bool
	// GroupedID is shared by the messages of one album.
	GroupedID int64
	// ForwardedFrom is the original sender (user or channel) of a forward.
	ForwardedFrom Peer
}

// History returns the live messages userID sees in p, oldest first.
func (s *Server) History(userID int64, p Peer) []StoredMessage {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.users[userID]
	if a == nil || st.checkPeer(p.key()) != nil {
		return nil
	}
	ms := st.peerMessages(a, p.key())
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	out := make([]StoredMessage, 0, len(ms))
	for _, m := range ms {
		sm := StoredMessage{
			ID:       m.id,
			Peer:     fromKey(m.peer),
			From:     m.from,
			Date:     m.date,
			Text:     m.text,
			Entities: m.entities,
			ReplyTo:  m.replyTo,
			TopicID:  m.topID,
			EditDate: m.editDate,
			Action:   m.action,

			Mentioned:     m.mentioned,
			GroupedID:     m.groupedID,
			ForwardedFrom: fromKey(m.fwdFrom),
		}
		if m.media != nil {
			switch {
			case m.media.photo != nil:
				sm.Media = "photo"
				sm.MimeType = "image/jpeg"
				sm.Data = m.media.photo.sizes[len(m.media.photo.sizes)-1].data
			case m.media.doc != nil:
				sm.Media = "document"
				sm.MimeType = m.media.doc.mime
				sm.Attributes = m.media.doc.attrs
				sm.Data = m.media.doc.data
			case m.media.geo != nil:
				sm.Media = "geo"
			case m.media.venue != nil:
				sm.Media = "venue"
			case m.media.contact != nil:
				sm.Media = "contact"
			case m.media.poll != nil:
				sm.Media = "poll"
			case m.media.webpage != nil:
				sm.Media = "webpage"
			case m.media.live != nil:
				sm.Media = "geolive"
			}
			sm.MediaObject = st.renderMediaFor(userID, m.media)
		}
		if m.shared != nil && len(m.shared.reactions) > 0 {
			sm.Reactions = map[int64]string{}
			for _, r := range m.shared.reactions {
				sm.Reactions[r.user] = r.emoticon
			}
		}
		out = append(out, sm)
	}
	return out
}

// ReadOutbox is the highest message ID of userID's own messages in p that
// the other side has read (read receipts the bridge sent).
func (s *Server) ReadOutbox(userID int64, p Peer) int {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.users[userID]
	if a == nil {
		return 0
	}
	if p.Kind == PeerChannel {
		if c := st.channels[p.ID]; c != nil {
			return c.readOutbox
		}
		return 0
	}
	return a.dialog(p.key()).readOutbox
}

// ReadInbox is how far userID has read p.
func (s *Server) ReadInbox(userID int64, p Peer) int {
	st := s.state
	st.mu.Lock()
	defer st.mu.Unlock()
	a := st.users[userID]
	if a == nil {
		return 0
	}
	if p.Kind == PeerChannel {
		if c := st.channels[p.ID]; c != nil {
			return c.readInbox[userID]
		}
		return 0
	}
	return a.dialog(p.key()).readInbox
}

// Pts is the account's common-box pts (for tests of catch-up).
func (s *Server) Pts(userID int64) int {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if a := s.state.users[userID]; a != nil {
		return a.box.pts
	}
	return 0
}

// ChannelPts is a channel's pts.
func (s *Server) ChannelPts(channelID int64) int {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if c := s.state.channels[channelID]; c != nil {
		return c.pts
	}
	return 0
}

// TypingEvent is a chat action an account sent (messages.setTyping or the
// scripted API).
type TypingEvent struct {
	From    int64
	Peer    Peer
	TopicID int
	Action  tg.SendMessageActionClass
	Date    int
}

// TypingEvents lists the chat actions account from sent, oldest first (the
// last 1000 of all accounts are kept), to check what a bridge relayed.
func (s *Server) TypingEvents(from int64) []TypingEvent {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	var out []TypingEvent
	for _, e := range s.state.typingLog {
		if e.From == from {
			out = append(out, e)
		}
	}
	return out
}
