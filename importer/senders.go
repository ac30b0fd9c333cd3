package importer

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Who said it: Telegram senders are Telegram ghosts by from_id; WhatsApp senders are ghosts by
// phone number, or by the name the logged-in account's contact list gives them; anyone else gets
// an "imported" ghost per name (portal.ImportedUserID). The importing person's own messages are
// sent as them through double puppeting when the bridge has it, else as their own ghost.

func senderKey(s SenderRef) string {
	switch {
	case s.Self:
		return "self"
	case s.TG != nil:
		return "tg:" + s.TG.String()
	case s.Phone != "":
		return "phone:" + s.Phone
	}
	return "name:" + strings.ToLower(strings.Join(strings.Fields(s.Name), " "))
}

// selfTG is the importing person's Telegram user ID (from their login), or 0.
func (r *run) selfTG() int64 {
	if r.login == nil {
		return 0
	}
	n, err := portal.ParseTGLoginID(r.login.ID)
	if err != nil {
		return 0
	}
	return n
}

// selfWA is the importing person's WhatsApp account (from their login).
func (r *run) selfWA() (types.JID, bool) {
	if r.login == nil {
		return types.JID{}, false
	}
	jid, err := portal.ParseWALoginID(r.login.ID)
	return jid, err == nil
}

func (r *run) isSelf(s SenderRef, chat *ChatRef) bool {
	if s.Self {
		return true
	}
	if s.TG != nil {
		if self := r.selfTG(); self != 0 {
			return s.TG.Kind == portal.TGUser && s.TG.ID == self
		}
		// Without a login, a personal chat still tells: whoever is not the other side is the
		// exporter (Saved Messages excepted, where both are the exporter).
		return chat != nil && chat.DM && chat.OtherUser != nil && chat.OtherUser.TG != nil &&
			s.TG.Kind == portal.TGUser && s.TG.ID != chat.OtherUser.TG.ID
	}
	if s.Phone != "" {
		own, ok := r.selfWA()
		return ok && "+"+own.User == s.Phone
	}
	name := strings.TrimSpace(s.Name)
	if name == "" {
		return false
	}
	if r.req.Me != "" && strings.EqualFold(name, strings.TrimSpace(r.req.Me)) {
		return true
	}
	return r.login != nil && r.login.RemoteName != "" && strings.EqualFold(name, r.login.RemoteName)
}

// ghostID is the ghost that speaks for a (non-self) sender.
func (r *run) ghostID(ctx context.Context, s SenderRef, chat *ChatRef) networkid.UserID {
	n := r.src.Network()
	if s.TG != nil && n == portal.Telegram {
		return portal.TGUserID(*s.TG)
	}
	if s.Phone != "" && n == portal.WhatsApp {
		if digits := strings.TrimPrefix(s.Phone, "+"); digits != "" {
			return portal.WAUserID(types.NewJID(digits, types.DefaultUserServer))
		}
	}
	// In a one-to-one WhatsApp export given with --chat +phone, the other side is that number.
	if n == portal.WhatsApp && chat != nil && chat.DM && chat.OtherUser != nil && senderKey(*chat.OtherUser) == senderKey(s) {
		if jid, err := parseWAChat(r.req.Chat); err == nil && jid.Server == types.DefaultUserServer {
			return portal.WAUserID(jid)
		}
	}
	if id, ok := r.contacts(ctx)[strings.ToLower(strings.TrimSpace(s.Name))]; ok {
		return id
	}
	name := s.Name
	if name == "" {
		name = "Unknown"
	}
	return portal.ImportedUserID(n, string(r.req.User.MXID), name)
}

// contacts maps contact names of the user's login on the export's network to their ghosts,
// through bridgev2's contact-list interface. Loaded once per run; empty without a login or
// when the network cannot list contacts.
func (r *run) contacts(ctx context.Context) map[string]networkid.UserID {
	if r.contactMap != nil {
		return r.contactMap
	}
	r.contactMap = map[string]networkid.UserID{}
	if r.login == nil || r.login.Client == nil {
		return r.contactMap
	}
	lister, ok := r.login.Client.(bridgev2.ContactListingNetworkAPI)
	if !ok {
		return r.contactMap
	}
	list, err := lister.GetContactList(ctx)
	if err != nil {
		r.im.log.Warn().Err(err).Msg("Failed to get the contact list for matching export senders; using imported ghosts")
		return r.contactMap
	}
	for _, c := range list {
		if c == nil || c.UserID == "" || portal.Require(r.src.Network(), "user ID", string(c.UserID)) != nil {
			continue
		}
		var names []string
		if c.UserInfo != nil && c.UserInfo.Name != nil {
			names = append(names, *c.UserInfo.Name)
		}
		if c.Ghost != nil && c.Ghost.Name != "" {
			names = append(names, c.Ghost.Name)
		}
		for _, name := range names {
			key := strings.ToLower(strings.TrimSpace(name))
			if _, dup := r.contactMap[key]; !dup && key != "" {
				r.contactMap[key] = c.UserID
			}
		}
	}
	return r.contactMap
}

// selfGhostID is the ghost of the importing person on the export's network, used when
// double puppeting is not available.
func (r *run) selfGhostID(s SenderRef) networkid.UserID {
	switch r.src.Network() {
	case portal.Telegram:
		if self := r.selfTG(); self != 0 {
			return portal.TGUserID(portal.TGPeer{Kind: portal.TGUser, ID: self})
		}
		if s.TG != nil {
			return portal.TGUserID(*s.TG)
		}
	case portal.WhatsApp:
		if own, ok := r.selfWA(); ok {
			return portal.WAUserID(own)
		}
	}
	name := s.Name
	if name == "" {
		name = r.req.User.MXID.Localpart()
	}
	return portal.ImportedUserID(r.src.Network(), string(r.req.User.MXID), name)
}

// intentFor returns who sends a message of s, making sure the ghost exists and has a name.
func (r *run) intentFor(ctx context.Context, s SenderRef) (bridgev2.MatrixAPI, error) {
	key := senderKey(s)
	if intent, ok := r.chat.senders[key]; ok {
		return intent, nil
	}
	intent, ghostID := r.senderTarget(ctx, s)
	if intent == nil {
		var err error
		if intent, err = r.ghostIntent(ctx, ghostID, s.Name); err != nil {
			return nil, err
		}
	}
	r.chat.senders[key] = intent
	return intent, nil
}

// senderTarget is who sends a sender's messages: the bridge bot or the person's double puppet
// (an intent), else the ghost with the returned ID. It may fetch the login's contact list once,
// so it is not for concurrent use.
func (r *run) senderTarget(ctx context.Context, s SenderRef) (bridgev2.MatrixAPI, networkid.UserID) {
	if s.TG == nil && s.Phone == "" && strings.TrimSpace(s.Name) == "" && !s.Self {
		// Nobody said it (a system line such as WhatsApp's encryption notice): the bridge bot.
		return r.im.br.Bot, ""
	}
	if r.isSelf(s, r.chat.ref) {
		if dp := r.req.User.DoublePuppet(ctx); dp != nil {
			return dp, ""
		}
		return nil, r.selfGhostID(s)
	}
	return nil, r.ghostID(ctx, s, r.chat.ref)
}

// ghostIntent loads a ghost, names it after the export when it has no better name, and returns
// its intent. Safe for concurrent use on distinct ghosts (bridgev2 locks its ghost cache).
func (r *run) ghostIntent(ctx context.Context, ghostID networkid.UserID, name string) (bridgev2.MatrixAPI, error) {
	ghost, err := r.im.br.GetGhostByID(ctx, ghostID)
	if err != nil {
		return nil, fmt.Errorf("get ghost %s: %w", ghostID, err)
	}
	if name = strings.TrimSpace(name); name != "" && (ghost.Name == "" || portal.IsImportedUserID(ghostID) && !ghost.NameSet) {
		ghost.UpdateInfo(ctx, &bridgev2.UserInfo{Name: &name})
	}
	return ghost.Intent, nil
}

// prepareWorkers is how many senders prepareSenders readies at once.
const prepareWorkers = 4

// prepareSenders readies every sender of the chat (ghost named, invited, joined) before its
// first message, several at once: each costs the homeserver a registration, a profile update
// and membership events, which one sender after the other added seconds to every chat with
// many senders, while sending its messages cannot start earlier anyway (the first message
// needs its sender in the room). A sender that fails here is retried, and its failure
// reported, when its first message is sent.
func (r *run) prepareSenders(ctx context.Context) {
	c := r.chat
	cp := r.plan.chats[c.ref.Key]
	if cp == nil || len(c.done) >= cp.count {
		return
	}
	type job struct {
		key     string
		intent  bridgev2.MatrixAPI
		ghostID networkid.UserID
		name    string
		ok      bool
	}
	var jobs []*job
	for _, s := range cp.senders {
		key := senderKey(s)
		if _, ok := c.senders[key]; ok {
			continue
		}
		intent, ghostID := r.senderTarget(ctx, s)
		jobs = append(jobs, &job{key: key, intent: intent, ghostID: ghostID, name: s.Name})
	}
	sem := make(chan struct{}, prepareWorkers)
	var wg sync.WaitGroup
	for _, j := range jobs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			if j.intent == nil {
				intent, err := r.ghostIntent(ctx, j.ghostID, j.name)
				if err != nil {
					return
				}
				j.intent = intent
			}
			j.ok = r.joinRoom(ctx, j.intent) == nil
		}()
	}
	wg.Wait()
	for _, j := range jobs {
		if j.intent != nil {
			c.senders[j.key] = j.intent
		}
		if j.ok {
			c.joined[j.intent.GetMXID()] = true
		}
	}
}
