package tgtestserver

import (
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// PeerKind tells users, basic groups and channels apart.
type PeerKind int

// Peer kinds.
const (
	PeerUser    PeerKind = PeerKind(peerUser)
	PeerChat    PeerKind = PeerKind(peerChat)
	PeerChannel PeerKind = PeerKind(peerChannel)
)

// Peer names a chat for the scripted-user API: a user (DM), a basic group or
// a channel/supergroup.
type Peer struct {
	Kind PeerKind
	ID   int64
}

// UserPeer is the DM with user id.
func UserPeer(id int64) Peer { return Peer{Kind: PeerUser, ID: id} }

// ChatPeer is basic group id.
func ChatPeer(id int64) Peer { return Peer{Kind: PeerChat, ID: id} }

// ChannelPeer is supergroup/channel id.
func ChannelPeer(id int64) Peer { return Peer{Kind: PeerChannel, ID: id} }

func (p Peer) key() peerKey { return peerKey{kind: peerKind(p.Kind), id: p.ID} }

func fromKey(k peerKey) Peer { return Peer{Kind: PeerKind(k.kind), ID: k.id} }

// Sent identifies a message sent through the scripted API. In DMs and basic
// groups every participant has its own copy with its own ID: IDFor gives the
// ID a given account sees. In channels all see the same ID.
type Sent struct {
	// ID is the message ID in the sender's box (or the channel).
	ID     int
	Peer   Peer
	copies map[int64]int
}

// IDFor is the ID userID's copy has (0 when it got none).
func (s Sent) IDFor(userID int64) int {
	if s.Peer.Kind == PeerChannel {
		return s.ID
	}
	return s.copies[userID]
}

func sentOf(d *delivery) Sent {
	s := Sent{ID: d.own.id, Peer: fromKey(d.own.peer), copies: map[int64]int{}}
	for owner, m := range d.shared.copies {
		s.copies[owner] = m.id
	}
	return s
}

// Actor acts as one account from Go: the "other side" of a conversation in
// tests and demos. Its actions go through the same code as RPCs, so the
// accounts' clients get the same pushes and pts as from a real app.
type Actor struct {
	srv *Server
	id  int64
}

// CreateUser registers an account and returns an Actor for it.
func (s *Server) CreateUser(spec UserSpec) (*Actor, error) {
	var id int64
	err := s.state.do(func(t *tx) error {
		a, err := s.state.createAccount(spec)
		if err != nil {
			return err
		}
		id = a.id
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &Actor{srv: s, id: id}, nil
}

// Actor returns the scripted handle of an existing account.
func (s *Server) Actor(userID int64) (*Actor, error) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	if s.state.users[userID] == nil {
		return nil, errf("no account with ID %d", userID)
	}
	return &Actor{srv: s, id: userID}, nil
}

// ActorByPhone finds the account registered with phone.
func (s *Server) ActorByPhone(phone string) (*Actor, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	a := s.state.byPhone[normalizePhone(phone)]
	if a == nil {
		return nil, false
	}
	return &Actor{srv: s, id: a.id}, true
}

// AccessHash is the access hash viewer's client must use for target (a
// user or channel ID), to build InputPeers in tests.
func (s *Server) AccessHash(viewer, target int64) int64 { return s.state.accessHash(viewer, target) }

// ID is the account's user ID.
func (a *Actor) ID() int64 { return a.id }

// BotToken is the token a bot logs in with (auth.importBotAuthorization).
func (a *Actor) BotToken() string {
	a.srv.state.mu.Lock()
	defer a.srv.state.mu.Unlock()
	return a.srv.state.users[a.id].botToken
}

// Phone is the account's phone number (digits only).
func (a *Actor) Phone() string {
	a.srv.state.mu.Lock()
	defer a.srv.state.mu.Unlock()
	return a.srv.state.users[a.id].phone
}

func (a *Actor) with(fn func(t *tx, me *account) error) error {
	return a.srv.state.do(func(t *tx) error {
		me := t.st.users[a.id]
		if me == nil {
			return errf("account %d no longer exists", a.id)
		}
		return fn(t, me)
	})
}

// describe turns an RPC error into a Go error that says what failed.
func describe(action string, err error) error {
	if err == nil {
		return nil
	}
	if rpc, ok := tgerr.As(err); ok {
		return errf("%s: %s", action, rpc.Message)
	}
	return errf("%s: %w", action, err)
}

// Message is what Send delivers; only Text or Media (or both) are needed.
type Message struct {
	Text     string
	Entities []tg.MessageEntityClass
	// ReplyTo is the ID of the replied message in the actor's own box.
	ReplyTo int
	// TopicID puts the message in a forum topic.
	TopicID int
	// Photo is a JPEG/PNG sent as a photo.
	Photo []byte
	// Document is sent as a file with MimeType and Attributes (filename,
	// video, audio/voice with waveform, sticker, animated…).
	Document   []byte
	MimeType   string
	Attributes []tg.DocumentAttributeClass
	// Thumb is a JPEG preview for Document.
	Thumb []byte
	// Location sends a map point (Venue adds a title and address).
	Location *Location
	// Contact shares a contact card.
	Contact *Contact
	// Poll starts a poll.
	Poll *Poll
}

// Location is a point on the map, optionally a named venue.
type Location struct {
	Lat, Long float64
	// VenueTitle and VenueAddress make it a venue.
	VenueTitle, VenueAddress string
	// LivePeriod makes it a live location shared for that many seconds (0x7FFFFFFF: until
	// stopped); move it with UpdateLiveLocation, end it with StopLiveLocation.
	LivePeriod int
}

// Contact is a shared contact card.
type Contact struct {
	Phone, FirstName, LastName, VCard string
}

// Send delivers a message from the actor to p.
func (a *Actor) Send(p Peer, msg Message) (Sent, error) {
	var out Sent
	err := a.with(func(t *tx, me *account) error {
		o := sendOpts{text: msg.Text, entities: msg.Entities, replyTo: msg.ReplyTo, topID: msg.TopicID}
		switch {
		case len(msg.Photo) > 0:
			ph, err := t.st.newPhoto(msg.Photo)
			if err != nil {
				return err
			}
			o.media = &media{photo: ph}
		case len(msg.Document) > 0:
			o.media = &media{doc: t.st.newDocument(msg.Document, msg.MimeType, msg.Attributes, msg.Thumb)}
		case msg.Location != nil:
			g := geoPoint{lat: msg.Location.Lat, long: msg.Location.Long}
			switch {
			case msg.Location.LivePeriod > 0:
				o.media = &media{live: &liveGeo{geo: g, period: msg.Location.LivePeriod}}
			case msg.Location.VenueTitle != "":
				o.media = &media{venue: &venue{geo: g, title: msg.Location.VenueTitle, address: msg.Location.VenueAddress}}
			default:
				o.media = &media{geo: &g}
			}
		case msg.Poll != nil:
			p, err := newPoll(msg.Poll.Question, msg.Poll.Answers, msg.Poll.MultipleChoice)
			if err != nil {
				return err
			}
			o.media = &media{poll: p}
		case msg.Contact != nil:
			c := &contactCard{phone: msg.Contact.Phone, first: msg.Contact.FirstName, last: msg.Contact.LastName, vcard: msg.Contact.VCard}
			if u := t.st.byPhone[normalizePhone(msg.Contact.Phone)]; u != nil {
				c.userID = u.id
			}
			o.media = &media{contact: c}
		}
		if err := t.st.checkPeer(p.key()); err != nil {
			return err
		}
		d, err := t.deliver(me, p.key(), o, 0)
		if err != nil {
			return err
		}
		out = sentOf(d)
		return nil
	})
	return out, describe("send message", err)
}

// SendText is Send with text (and optional entities) only.
func (a *Actor) SendText(p Peer, text string, entities ...tg.MessageEntityClass) (Sent, error) {
	return a.Send(p, Message{Text: text, Entities: entities})
}

// Edit changes the text of the actor's message id (an ID in its own box).
func (a *Actor) Edit(p Peer, id int, text string, entities ...tg.MessageEntityClass) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.edit(me, p.key(), id, &text, entities, nil, 0)
		return err
	})
	return describe("edit message", err)
}

// Delete deletes messages for everyone (ids in the actor's box or channel).
func (a *Actor) Delete(p Peer, ids ...int) error {
	err := a.with(func(t *tx, me *account) error {
		if p.Kind == PeerChannel {
			c := t.st.channels[p.ID]
			if c == nil {
				return errChannelInvalid
			}
			_, err := t.deleteChannel(me, c, ids, 0)
			return err
		}
		t.deleteCommon(me, ids, true, 0)
		return nil
	})
	return describe("delete messages", err)
}

// React sets the actor's reaction on message id (empty emoticon removes it).
func (a *Actor) React(p Peer, id int, emoticon string) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.react(me, p.key(), id, emoticon, 0)
		return err
	})
	return describe("react", err)
}

// Read marks p read up to maxID (0: everything), sending read receipts.
func (a *Actor) Read(p Peer, maxID int) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.readHistory(me, p.key(), maxID, 0)
		return err
	})
	return describe("read history", err)
}

// Typing sends a chat action (nil: typing).
func (a *Actor) Typing(p Peer, action tg.SendMessageActionClass) error {
	if action == nil {
		action = &tg.SendMessageTypingAction{}
	}
	err := a.with(func(t *tx, me *account) error {
		return t.typing(me, p.key(), 0, action)
	})
	return describe("typing", err)
}

// AddContact adds userID to the actor's contacts.
func (a *Actor) AddContact(userID int64) error {
	err := a.with(func(t *tx, me *account) error {
		if t.st.users[userID] == nil {
			return errUserIDInvalid
		}
		me.contacts[userID] = true
		return nil
	})
	return describe("add contact", err)
}

// CreateGroup makes a basic group with members and returns its chat ID.
func (a *Actor) CreateGroup(title string, members ...int64) (int64, error) {
	var id int64
	err := a.with(func(t *tx, me *account) error {
		var ms []*account
		for _, m := range members {
			u := t.st.users[m]
			if u == nil {
				return errUserIDInvalid
			}
			ms = append(ms, u)
		}
		c, _, err := t.createChat(me, title, ms, 0)
		if err != nil {
			return err
		}
		id = c.id
		return nil
	})
	return id, describe("create group", err)
}

// ChannelKind picks what CreateChannel makes.
type ChannelKind int

// Channel kinds.
const (
	Supergroup ChannelKind = iota
	Broadcast
	Forum
)

// CreateChannel makes a supergroup, broadcast channel or forum and returns
// its channel ID. members are added right away (supergroups and forums get
// a service message for each).
func (a *Actor) CreateChannel(title string, kind ChannelKind, members ...int64) (int64, error) {
	var id int64
	err := a.with(func(t *tx, me *account) error {
		c, _, err := t.createChannel(me, title, "", kind == Broadcast, kind == Forum, 0)
		if err != nil {
			return err
		}
		id = c.id
		for _, m := range members {
			u := t.st.users[m]
			if u == nil {
				return errUserIDInvalid
			}
			if _, err := t.joinChannel(c, u, me, 0); err != nil {
				return err
			}
		}
		return nil
	})
	return id, describe("create channel", err)
}

// Invite adds userID to a basic group or channel the actor is in.
func (a *Actor) Invite(p Peer, userID int64) error {
	err := a.with(func(t *tx, me *account) error {
		u := t.st.users[userID]
		if u == nil {
			return errUserIDInvalid
		}
		switch p.Kind {
		case PeerChat:
			c := t.st.chats[p.ID]
			if c == nil {
				return errChatIDInvalid
			}
			_, err := t.addChatUser(me, c, u, 0)
			return err
		case PeerChannel:
			c := t.st.channels[p.ID]
			if c == nil {
				return errChannelInvalid
			}
			_, err := t.joinChannel(c, u, me, 0)
			return err
		}
		return errPeerIDInvalid
	})
	return describe("invite", err)
}

// Join makes the actor join a channel.
func (a *Actor) Join(channelID int64) error {
	err := a.with(func(t *tx, me *account) error {
		c := t.st.channels[channelID]
		if c == nil {
			return errChannelInvalid
		}
		_, err := t.joinChannel(c, me, me, 0)
		return err
	})
	return describe("join", err)
}

// Leave makes the actor leave a basic group or channel.
func (a *Actor) Leave(p Peer) error {
	err := a.with(func(t *tx, me *account) error {
		switch p.Kind {
		case PeerChat:
			c := t.st.chats[p.ID]
			if c == nil {
				return errChatIDInvalid
			}
			_, err := t.removeChatUser(me, c, me, 0)
			return err
		case PeerChannel:
			c := t.st.channels[p.ID]
			if c == nil {
				return errChannelInvalid
			}
			_, err := t.leaveChannel(c, me, 0)
			return err
		}
		return errPeerIDInvalid
	})
	return describe("leave", err)
}

// Kick removes userID from a basic group the actor created.
func (a *Actor) Kick(chatID, userID int64) error {
	err := a.with(func(t *tx, me *account) error {
		c, u := t.st.chats[chatID], t.st.users[userID]
		if c == nil || u == nil {
			return errPeerIDInvalid
		}
		_, err := t.removeChatUser(me, c, u, 0)
		return err
	})
	return describe("kick", err)
}

// Rename changes a group's or channel's title.
func (a *Actor) Rename(p Peer, title string) error {
	err := a.with(func(t *tx, me *account) error {
		switch p.Kind {
		case PeerChat:
			c := t.st.chats[p.ID]
			if c == nil {
				return errChatIDInvalid
			}
			_, err := t.editChatTitle(me, c, title, 0)
			return err
		case PeerChannel:
			c := t.st.channels[p.ID]
			if c == nil {
				return errChannelInvalid
			}
			_, err := t.editChannelTitle(me, c, title, 0)
			return err
		}
		return errPeerIDInvalid
	})
	return describe("rename", err)
}

// Migrate turns a basic group into a supergroup and returns its channel ID.
func (a *Actor) Migrate(chatID int64) (int64, error) {
	var id int64
	err := a.with(func(t *tx, me *account) error {
		c := t.st.chats[chatID]
		if c == nil {
			return errChatIDInvalid
		}
		ch, _, _, err := t.migrate(me, c, 0)
		if err != nil {
			return err
		}
		id = ch.id
		return nil
	})
	return id, describe("migrate group", err)
}

// CreateTopic opens a forum topic and returns its ID.
func (a *Actor) CreateTopic(channelID int64, title string) (int, error) {
	var id int
	err := a.with(func(t *tx, me *account) error {
		c := t.st.channels[channelID]
		if c == nil {
			return errChannelInvalid
		}
		tp, _, err := t.createTopic(me, c, title, 0x6FB9F0, 0)
		if err != nil {
			return err
		}
		id = tp.id
		return nil
	})
	return id, describe("create topic", err)
}

// checkPeer verifies a scripted peer exists.
func (st *store) checkPeer(p peerKey) error {
	switch p.kind {
	case peerUser:
		if st.users[p.id] == nil {
			return errUserIDInvalid
		}
	case peerChat:
		if st.chats[p.id] == nil {
			return errChatIDInvalid
		}
	case peerChannel:
		if st.channels[p.id] == nil {
			return errChannelInvalid
		}
	default:
		return errPeerIDInvalid
	}
	return nil
}
