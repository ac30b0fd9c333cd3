package watestserver

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"time"

	waBinary "go.mau.fi/whatsmeow/binary"
	"go.mau.fi/whatsmeow/types"
)

// group is a WhatsApp group: its members by phone number, with admin flags.
type group struct {
	id        string
	name      string
	nameSetAt int64
	nameSetBy string
	topic     string
	topicID   string
	topicAt   int64
	topicBy   string
	creator   string
	created   int64
	locked    bool              // only admins change the group's info
	announce  bool              // only admins send messages
	ephemeral uint32            // disappearing timer in seconds, 0 for off
	invite    string            // current invite link code, "" until an admin asks for one
	members   map[string]string // phone → "", "admin" or "superadmin"
}

func (g *group) jid() types.JID { return types.NewJID(g.id, types.GroupServer) }

func (g *group) hasMember(phone string) bool {
	_, ok := g.members[phone]
	return ok
}

func (g *group) isAdmin(phone string) bool {
	role := g.members[phone]
	return role == "admin" || role == "superadmin"
}

func (g *group) memberPhones() []string {
	out := make([]string, 0, len(g.members))
	for p := range g.members {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// participantNodeLocked describes a member the way the server does: phone-number JID with the LID
// alongside.
func (srv *Server) participantNodeLocked(phone, role string) waBinary.Node {
	attrs := waBinary.Attrs{"jid": types.NewJID(phone, types.DefaultUserServer)}
	if acct := srv.accounts[phone]; acct != nil {
		attrs["lid"] = acct.lidJID()
	}
	if role != "" {
		attrs["type"] = role
	}
	return waBinary.Node{Tag: "participant", Attrs: attrs}
}

func (srv *Server) groupNodeLocked(g *group) waBinary.Node {
	attrs := waBinary.Attrs{
		"id":       g.id,
		"subject":  g.name,
		"s_t":      g.nameSetAt,
		"creation": g.created,
		"creator":  types.NewJID(g.creator, types.DefaultUserServer),
		"size":     len(g.members),
	}
	if g.nameSetBy != "" {
		attrs["s_o"] = types.NewJID(g.nameSetBy, types.DefaultUserServer)
	}
	var children []waBinary.Node
	for _, phone := range g.memberPhones() {
		children = append(children, srv.participantNodeLocked(phone, g.members[phone]))
	}
	if g.locked {
		children = append(children, waBinary.Node{Tag: "locked"})
	}
	if g.announce {
		children = append(children, waBinary.Node{Tag: "announcement"})
	}
	if g.ephemeral > 0 {
		children = append(children, waBinary.Node{Tag: "ephemeral", Attrs: waBinary.Attrs{"expiration": g.ephemeral}})
	}
	if g.topic != "" {
		children = append(children, waBinary.Node{
			Tag:     "description",
			Attrs:   waBinary.Attrs{"id": g.topicID, "t": g.topicAt, "participant": types.NewJID(g.topicBy, types.DefaultUserServer)},
			Content: []waBinary.Node{{Tag: "body", Content: []byte(g.topic)}},
		})
	}
	return waBinary.Node{Tag: "group", Attrs: attrs, Content: children}
}

// notifyGroupLocked queues a w:gp2 notification about a group for every device of the given
// members (all current members when phones is nil). Send with runAll after unlocking.
func (srv *Server) notifyGroupLocked(g *group, actor *device, phones []string, change waBinary.Node) []func() {
	if phones == nil {
		phones = g.memberPhones()
	}
	id := srv.nextIDLocked()
	attrs := waBinary.Attrs{"type": "w:gp2", "from": g.jid(), "id": id, "t": time.Now().Unix()}
	if actor != nil {
		attrs["participant"] = actor.acct.jid()
		attrs["participant_lid"] = actor.acct.lidJID()
		if actor.acct.pushName != "" {
			attrs["notify"] = actor.acct.pushName
		}
	}
	node := waBinary.Node{Tag: "notification", Attrs: attrs, Content: []waBinary.Node{change}}
	var sends []func()
	for _, phone := range phones {
		if acct := srv.accounts[phone]; acct != nil {
			for _, dev := range acct.sortedDevices() {
				sends = append(sends, srv.enqueueLocked(dev, &queued{node: node, class: "notification", id: id, typ: "w:gp2", from: g.jid()}))
			}
		}
	}
	return sends
}

func (srv *Server) nextIDLocked() string {
	srv.idCounter++
	return fmt.Sprintf("srv.%d", srv.idCounter)
}

// handleGroupIQ serves the w:g2 namespace: create, query, list, participants, subject,
// description and leave.
func (srv *Server) handleGroupIQ(c *conn, node *waBinary.Node) {
	children := node.GetChildren()
	to, _ := node.Attrs["to"].(types.JID)
	if len(children) != 1 {
		srv.replyIQError(c, node, 400, "bad-request")
		return
	}
	req := children[0]
	var sends []func()
	srv.mu.Lock()
	actor := c.device
	me := actor.acct.phone
	reply, code, text := func() ([]waBinary.Node, int, string) {
		if to.User == "" {
			switch req.Tag {
			case "create":
				return srv.createGroupLocked(actor, &req, &sends)
			case "participating":
				var groups []waBinary.Node
				ids := make([]string, 0, len(srv.groups))
				for id, g := range srv.groups {
					if g.hasMember(me) {
						ids = append(ids, id)
					}
				}
				sort.Strings(ids)
				for _, id := range ids {
					groups = append(groups, srv.groupNodeLocked(srv.groups[id]))
				}
				return []waBinary.Node{{Tag: "groups", Content: groups}}, 0, ""
			case "invite":
				code := contentString(req.Attrs["code"])
				gid, known := srv.inviteCodes[code]
				g := srv.groups[gid]
				if !known || g == nil {
					return nil, 406, "not-acceptable"
				}
				if g.invite != code {
					return nil, 410, "gone"
				}
				if node.Attrs["type"] == "get" {
					return []waBinary.Node{srv.groupNodeLocked(g)}, 0, ""
				}
				if !g.hasMember(me) {
					g.members[me] = ""
					change := waBinary.Node{Tag: "add", Attrs: waBinary.Attrs{"reason": "invite"}, Content: []waBinary.Node{srv.participantNodeLocked(me, "")}}
					sends = append(sends, srv.notifyGroupLocked(g, actor, nil, change)...)
				}
				return []waBinary.Node{{Tag: "group", Attrs: waBinary.Attrs{"jid": g.jid()}}}, 0, ""
			case "leave":
				for _, gn := range req.GetChildrenByTag("group") {
					gid, _ := gn.Attrs["id"].(types.JID)
					g := srv.groups[gid.User]
					if g == nil || !g.hasMember(me) {
						continue
					}
					change := waBinary.Node{Tag: "remove", Content: []waBinary.Node{srv.participantNodeLocked(me, "")}}
					sends = append(sends, srv.notifyGroupLocked(g, actor, nil, change)...)
					delete(g.members, me)
				}
				return nil, 0, ""
			}
			return nil, 400, "bad-request"
		}
		g := srv.groups[to.User]
		if g == nil {
			return nil, 404, "item-not-found"
		}
		if !g.hasMember(me) {
			return nil, 403, "forbidden"
		}
		switch req.Tag {
		case "query":
			return []waBinary.Node{srv.groupNodeLocked(g)}, 0, ""
		case "add", "remove", "promote", "demote":
			if !g.isAdmin(me) {
				return nil, 403, "forbidden"
			}
			return srv.changeParticipantsLocked(g, actor, &req, &sends)
		case "invite":
			if !g.isAdmin(me) {
				return nil, 401, "not-authorized"
			}
			if g.invite == "" || node.Attrs["type"] == "set" {
				if srv.inviteCodes == nil {
					srv.inviteCodes = map[string]string{}
				}
				g.invite = randomString(22)
				srv.inviteCodes[g.invite] = g.id
			}
			return []waBinary.Node{{Tag: "invite", Attrs: waBinary.Attrs{"code": g.invite}}}, 0, ""
		case "locked", "unlocked", "announcement", "not_announcement", "ephemeral", "not_ephemeral":
			// The disappearing timer is for every member to set, as on WhatsApp, unless the
			// group's info is locked to admins; the other settings are admins' only.
			ephemeral := req.Tag == "ephemeral" || req.Tag == "not_ephemeral"
			if !g.isAdmin(me) && (!ephemeral || g.locked) {
				return nil, 403, "forbidden"
			}
			change := waBinary.Node{Tag: req.Tag}
			switch req.Tag {
			case "locked", "unlocked":
				g.locked = req.Tag == "locked"
			case "announcement", "not_announcement":
				g.announce = req.Tag == "announcement"
				change.Attrs = waBinary.Attrs{"v_id": strconv.FormatInt(time.Now().UnixNano(), 10)}
			case "ephemeral":
				exp, err := strconv.ParseUint(contentString(req.Attrs["expiration"]), 10, 32)
				if err != nil || exp == 0 {
					return nil, 400, "bad-request"
				}
				g.ephemeral = uint32(exp)
				change.Attrs = waBinary.Attrs{"expiration": g.ephemeral}
			case "not_ephemeral":
				g.ephemeral = 0
			}
			sends = append(sends, srv.notifyGroupLocked(g, actor, nil, change)...)
			return nil, 0, ""
		case "subject":
			if g.locked && !g.isAdmin(me) {
				return nil, 403, "forbidden"
			}
			name := contentString(req.Content)
			if len(name) == 0 || len([]rune(string(name))) > 100 {
				return nil, 406, "not-acceptable"
			}
			g.name, g.nameSetAt, g.nameSetBy = name, time.Now().Unix(), me
			sends = append(sends, srv.notifyGroupLocked(g, actor, nil, waBinary.Node{Tag: "subject", Attrs: waBinary.Attrs{
				"subject": g.name, "s_t": g.nameSetAt, "s_o": actor.acct.jid(),
			}})...)
			return nil, 0, ""
		case "description":
			if g.locked && !g.isAdmin(me) {
				return nil, 403, "forbidden"
			}
			bodyNode := req.GetChildByTag("body")
			body := []byte(contentString(bodyNode.Content))
			id, _ := req.Attrs["id"].(string)
			g.topic, g.topicID, g.topicAt, g.topicBy = string(body), id, time.Now().Unix(), me
			change := waBinary.Node{Tag: "description", Attrs: waBinary.Attrs{"id": id}}
			if len(body) == 0 {
				change.Content = []waBinary.Node{{Tag: "delete"}}
			} else {
				change.Content = []waBinary.Node{{Tag: "body", Content: body}}
			}
			sends = append(sends, srv.notifyGroupLocked(g, actor, nil, change)...)
			return nil, 0, ""
		}
		return nil, 501, "feature-not-implemented"
	}()
	srv.mu.Unlock()
	if code != 0 {
		srv.replyIQError(c, node, code, text)
	} else {
		srv.replyIQ(c, node, reply)
	}
	runAll(sends)
}

func (srv *Server) createGroupLocked(actor *device, req *waBinary.Node, sends *[]func()) ([]waBinary.Node, int, string) {
	subject, _ := req.Attrs["subject"].(string)
	if subject == "" || len([]rune(subject)) > 100 {
		return nil, 406, "not-acceptable"
	}
	now := time.Now().Unix()
	srv.idCounter++
	g := &group{
		id:        "120363" + strconv.FormatInt(now%1_000_000, 10) + strconv.FormatUint(srv.idCounter, 10),
		name:      subject,
		nameSetAt: now,
		nameSetBy: actor.acct.phone,
		creator:   actor.acct.phone,
		created:   now,
		members:   map[string]string{actor.acct.phone: "superadmin"},
	}
	var results []waBinary.Node
	for _, p := range req.GetChildrenByTag("participant") {
		jid, _ := p.Attrs["jid"].(types.JID)
		acct := srv.accountOfLocked(jid)
		if acct == nil {
			results = append(results, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": 404}})
			continue
		}
		if _, ok := g.members[acct.phone]; !ok {
			g.members[acct.phone] = ""
		}
	}
	srv.groups[g.id] = g
	info := srv.groupNodeLocked(g)
	info.Content = append(info.GetChildren(), results...)
	key, _ := req.Attrs["key"].(string)
	*sends = append(*sends, srv.notifyGroupLocked(g, actor, nil, waBinary.Node{
		Tag: "create", Attrs: waBinary.Attrs{"reason": "create", "key": key, "type": "new"},
		Content: []waBinary.Node{srv.groupNodeLocked(g)},
	})...)
	return []waBinary.Node{info}, 0, ""
}

func (srv *Server) changeParticipantsLocked(g *group, actor *device, req *waBinary.Node, sends *[]func()) ([]waBinary.Node, int, string) {
	var results, changed []waBinary.Node
	var changedPhones []string
	for _, p := range req.GetChildrenByTag("participant") {
		jid, _ := p.Attrs["jid"].(types.JID)
		acct := srv.accountOfLocked(jid)
		if acct == nil {
			results = append(results, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": 404}})
			continue
		}
		_, member := g.members[acct.phone]
		switch {
		case req.Tag == "add" && member, req.Tag != "add" && !member:
			results = append(results, waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": jid, "error": 409}})
			continue
		case req.Tag == "add":
			g.members[acct.phone] = ""
		case req.Tag == "promote":
			g.members[acct.phone] = "admin"
		case req.Tag == "demote":
			g.members[acct.phone] = ""
		}
		node := srv.participantNodeLocked(acct.phone, "")
		results = append(results, node)
		changed = append(changed, node)
		changedPhones = append(changedPhones, acct.phone)
	}
	if len(changed) > 0 {
		recipients := g.memberPhones()
		if req.Tag == "remove" {
			for _, phone := range changedPhones {
				delete(g.members, phone)
			}
		}
		*sends = append(*sends, srv.notifyGroupLocked(g, actor, recipients, waBinary.Node{Tag: req.Tag, Content: changed})...)
	}
	return []waBinary.Node{{Tag: req.Tag, Content: results}}, 0, ""
}

// CreateGroup creates a group on behalf of account creator (who becomes its super admin) with the
// given members, as if the creator's phone had done it; members are notified. It returns the
// group's JID.
func (srv *Server) CreateGroup(ctx context.Context, creator, name string, members ...string) (types.JID, error) {
	if err := ctx.Err(); err != nil {
		return types.EmptyJID, err
	}
	if name == "" {
		return types.EmptyJID, fmt.Errorf("create group: the name must not be empty")
	}
	var sends []func()
	srv.mu.Lock()
	acct := srv.accounts[creator]
	if acct == nil {
		srv.mu.Unlock()
		return types.EmptyJID, fmt.Errorf("create group: creator %s is not registered", creator)
	}
	req := waBinary.Node{Tag: "create", Attrs: waBinary.Attrs{"subject": name}}
	for _, m := range members {
		if srv.accounts[m] == nil {
			srv.mu.Unlock()
			return types.EmptyJID, fmt.Errorf("create group: member %s is not registered", m)
		}
		req.Content = append(req.GetChildren(), waBinary.Node{Tag: "participant", Attrs: waBinary.Attrs{"jid": types.NewJID(m, types.DefaultUserServer)}})
	}
	// The creator's server-side phone acts: a device that is not connected anywhere.
	phoneDev := &device{acct: acct}
	reply, _, text := srv.createGroupLocked(phoneDev, &req, &sends)
	srv.mu.Unlock()
	runAll(sends)
	if reply == nil {
		return types.EmptyJID, fmt.Errorf("create group: %s", text)
	}
	id, _ := reply[0].Attrs["id"].(string)
	return types.NewJID(id, types.GroupServer), nil
}

// GroupMembers lists a group's members by phone number.
func (srv *Server) GroupMembers(jid types.JID) []string {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if g := srv.groups[jid.User]; g != nil {
		return g.memberPhones()
	}
	return nil
}
