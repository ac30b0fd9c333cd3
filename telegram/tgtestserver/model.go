package tgtestserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

type peerKind int

const (
	peerUser peerKind = iota + 1
	peerChat
	peerChannel
)

// peerKey names a user, basic group or channel.
type peerKey struct {
	kind peerKind
	id   int64
}

func userPeer(id int64) peerKey    { return peerKey{kind: peerUser, id: id} }
func chatPeer(id int64) peerKey    { return peerKey{kind: peerChat, id: id} }
func channelPeer(id int64) peerKey { return peerKey{kind: peerChannel, id: id} }

func (p peerKey) tg() tg.PeerClass {
	switch p.kind {
	case peerChat:
		return &tg.PeerChat{ChatID: p.id}
	case peerChannel:
		return &tg.PeerChannel{ChannelID: p.id}
	default:
		return &tg.PeerUser{UserID: p.id}
	}
}

// account is a Telegram user or bot.
type account struct {
	id        int64
	phone     string
	first     string
	last      string
	username  string
	about     string
	bot       bool
	botToken  string
	photo     *photoFile
	password  *passwordState
	contacts  map[int64]bool
	box       commonBox
	dialogs   map[peerKey]*dialogState
	createdAt int
	online    bool
	lastSeen  int
	// sentRandomIDs are the random_ids of the messages this account sent: Telegram refuses a
	// second send with one (RANDOM_ID_DUPLICATE), which is what makes resending safe.
	sentRandomIDs map[int64]int
}

// claimRandomID refuses a random_id the account already sent a message with.
func (a *account) claimRandomID(randomID int64) error {
	if _, dup := a.sentRandomIDs[randomID]; dup && randomID != 0 {
		return tgerr.New(400, "RANDOM_ID_DUPLICATE")
	}
	return nil
}

// recordRandomID remembers the random_id of a message the account sent.
func (a *account) recordRandomID(randomID int64, msgID int) {
	if randomID == 0 {
		return
	}
	if a.sentRandomIDs == nil {
		a.sentRandomIDs = map[int64]int{}
	}
	a.sentRandomIDs[randomID] = msgID
}

func (a *account) dialog(p peerKey) *dialogState {
	d := a.dialogs[p]
	if d == nil {
		d = &dialogState{}
		a.dialogs[p] = d
	}
	return d
}

// dialogState is one account's read marks in one chat.
type dialogState struct {
	readInbox  int
	readOutbox int
	pinned     bool
}

// commonBox is an account's own message box: DMs and basic groups share one
// pts sequence and one message ID sequence per account, as on Telegram.
type commonBox struct {
	pts    int
	qts    int
	nextID int
	events []event
	msgs   map[int]*message
}

// event is one pts step kept for getDifference.
type event struct {
	pts    int
	count  int
	date   int
	peers  []peerKey
	render func(viewer int64) tg.UpdateClass
	// newMessage marks updateNewMessage / updateNewChannelMessage events,
	// which getDifference returns as new_messages.
	newMessage bool
	// msg is the message a newMessage event added: once deleted it is no longer in new_messages,
	// as on Telegram, where a message deleted before the difference is fetched is gone.
	msg *message
}

func (e event) gone() bool { return e.msg != nil && e.msg.deleted }

// member is one participant of a basic group or channel.
type member struct {
	userID  int64
	inviter int64
	date    int
	admin   bool
	creator bool
	rank    string
}

// chat is a basic group.
type chat struct {
	id          int64
	title       string
	about       string
	creator     int64
	date        int
	version     int
	members     map[int64]*member
	order       []int64
	photo       *photoFile
	migratedTo  int64
	deactivated bool
	settings    chatSettings
}

func (c *chat) addMember(m *member) {
	if _, ok := c.members[m.userID]; !ok {
		c.order = append(c.order, m.userID)
	}
	c.members[m.userID] = m
	c.version++
}

func (c *chat) removeMember(id int64) {
	delete(c.members, id)
	for i, u := range c.order {
		if u == id {
			c.order = append(c.order[:i:i], c.order[i+1:]...)
			break
		}
	}
	c.version++
}

// channel is a supergroup (megagroup, possibly a forum) or a broadcast channel.
type channel struct {
	id                int64
	title             string
	about             string
	username          string
	broadcast         bool
	megagroup         bool
	forum             bool
	creator           int64
	date              int
	photo             *photoFile
	members           map[int64]*member
	order             []int64
	pts               int
	lastEventDate     int
	nextID            int
	events            []event
	msgs              map[int]*message
	migratedFromChat  int64
	migratedFromMaxID int
	topics            map[int]*topic
	readInbox         map[int64]int
	readOutbox        int
	settings          chatSettings
}

func (c *channel) addMember(m *member) {
	if _, ok := c.members[m.userID]; !ok {
		c.order = append(c.order, m.userID)
	}
	c.members[m.userID] = m
}

func (c *channel) removeMember(id int64) {
	delete(c.members, id)
	for i, u := range c.order {
		if u == id {
			c.order = append(c.order[:i:i], c.order[i+1:]...)
			break
		}
	}
}

// topic is a forum topic; its ID is the ID of the service message that
// created it, as on Telegram.
type topic struct {
	id        int
	title     string
	iconColor int
	date      int
	creator   int64
	closed    bool
}

// message is one copy of a message in one box. DMs and basic-group messages
// have one copy per participant (each with that account's ID); channel
// messages have one copy, owned by the channel (owner 0).
type message struct {
	id          int
	owner       int64
	peer        peerKey
	from        int64
	date        int
	text        string
	entities    []tg.MessageEntityClass
	media       *media
	action      tg.MessageActionClass
	editDate    int
	replyTo     int
	topID       int
	post        bool
	mediaUnread bool
	mentioned   bool
	shared      *sharedMessage
	deleted     bool
	groupedID   int64
	// fwdFrom/fwdDate/fwdPost describe a forwarded message's origin.
	fwdFrom peerKey
	fwdDate int
	fwdPost int
}

// sharedMessage links the copies of one sent message and holds what all
// copies share (reactions).
type sharedMessage struct {
	copies    map[int64]*message
	reactions []reactionEntry
}

type reactionEntry struct {
	user     int64
	emoticon string
	date     int
}

// store is the whole server state, guarded by mu.
type store struct {
	srv    *Server
	mu     sync.Mutex
	secret [32]byte

	users      map[int64]*account
	byPhone    map[string]*account
	byUsername map[string]peerKey
	byBotToken map[string]*account
	chats      map[int64]*chat
	channels   map[int64]*channel

	uploads map[uploadKey]*upload
	photos  map[int64]*photoFile
	docs    map[int64]*docFile
	// webPages are the link previews the server can attach, by URL without scheme.
	webPages map[string]*webPage

	codes         map[string]*pendingCode
	lastCodes     map[string]string
	loginTokens   map[string]*loginToken
	passwordWaits map[[8]byte]passwordWait

	typingLog []TypingEvent

	nextUserID    int64
	nextChatID    int64
	nextChannelID int64

	respMu     sync.Mutex
	responders []*responder
}

func newStore(srv *Server) *store {
	st := &store{
		srv:           srv,
		users:         map[int64]*account{},
		byPhone:       map[string]*account{},
		byUsername:    map[string]peerKey{},
		byBotToken:    map[string]*account{},
		chats:         map[int64]*chat{},
		channels:      map[int64]*channel{},
		uploads:       map[uploadKey]*upload{},
		photos:        map[int64]*photoFile{},
		docs:          map[int64]*docFile{},
		webPages:      map[string]*webPage{},
		codes:         map[string]*pendingCode{},
		lastCodes:     map[string]string{},
		loginTokens:   map[string]*loginToken{},
		passwordWaits: map[[8]byte]passwordWait{},
		nextUserID:    1000000,
		nextChatID:    4000000,
		nextChannelID: 1700000000,
	}
	_, _ = rand.Read(st.secret[:])
	return st
}

// accessHash is the hash viewer must present for target: like Telegram's,
// it differs per viewing account, so a hash learned by one login does not
// work for another.
func (st *store) accessHash(viewer, target int64) int64 {
	m := hmac.New(sha256.New, st.secret[:])
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], uint64(viewer))
	binary.LittleEndian.PutUint64(b[8:], uint64(target))
	m.Write(b[:])
	return int64(binary.LittleEndian.Uint64(m.Sum(nil)) >> 1)
}

func randomInt64() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) >> 1)
}

// tx collects pushes made while the store is locked; they are sent after
// unlocking so a slow client never holds the store.
type tx struct {
	st     *store
	now    int
	pushes []pendingPush
	after  []func()
}

type pendingPush struct {
	user   int64
	except int64
	msg    bin.Encoder
}

// do runs fn with the store locked, then delivers what fn pushed.
func (st *store) do(fn func(t *tx) error) error {
	st.mu.Lock()
	t := &tx{st: st, now: st.srv.unix()}
	err := fn(t)
	st.mu.Unlock()
	for _, p := range t.pushes {
		st.srv.sessions.pushUser(p.user, p.except, p.msg)
	}
	for _, f := range t.after {
		f()
	}
	return err
}

// push sends updates to every session of user but except, with the users
// and chats they mention.
func (t *tx) push(user int64, except int64, peers []peerKey, updates ...tg.UpdateClass) {
	if len(updates) == 0 {
		return
	}
	users, chats := t.st.entities(user, peers)
	t.pushes = append(t.pushes, pendingPush{user: user, except: except, msg: &tg.Updates{
		Updates: updates,
		Users:   users,
		Chats:   chats,
		Date:    t.now,
	}})
}

// pushMsg sends a ready-made updates object.
func (t *tx) pushMsg(user int64, except int64, msg bin.Encoder) {
	t.pushes = append(t.pushes, pendingPush{user: user, except: except, msg: msg})
}
