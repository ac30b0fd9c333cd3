package tgtestserver

import (
	"context"
	"strings"

	"github.com/gotd/td/tg"
)

// UserSpec describes an account to create with Server.CreateUser.
type UserSpec struct {
	// Phone is the account's phone number (digits; "+" and spaces are
	// ignored). Required for users, optional for bots.
	Phone     string
	FirstName string
	LastName  string
	// Username without "@"; must be unique (case-insensitive).
	Username string
	About    string
	// Password enables 2FA: code login then asks for it over SRP.
	Password     string
	PasswordHint string
	// Bot makes a bot account; Server.CreateUser then sets BotToken on the
	// returned Actor.
	Bot bool
	// Photo is a JPEG or PNG profile photo.
	Photo []byte
}

// createAccount adds an account; the store must be locked.
func (st *store) createAccount(spec UserSpec) (*account, error) {
	phone := normalizePhone(spec.Phone)
	if !spec.Bot && (len(phone) < 5 || len(phone) > 15) {
		return nil, errf("UserSpec.Phone %q: need 5 to 15 digits", spec.Phone)
	}
	if spec.FirstName == "" {
		return nil, errf("UserSpec.FirstName is empty: every account needs a first name")
	}
	if phone != "" && st.byPhone[phone] != nil {
		return nil, errf("UserSpec.Phone %s is already registered", phone)
	}
	uname := strings.TrimPrefix(spec.Username, "@")
	if uname != "" {
		if len(uname) < 4 || len(uname) > 32 {
			return nil, errf("UserSpec.Username %q: use 4 to 32 characters", uname)
		}
		if _, taken := st.byUsername[strings.ToLower(uname)]; taken {
			return nil, errf("UserSpec.Username %q is taken", uname)
		}
	}
	st.nextUserID++
	a := &account{
		id:        st.nextUserID,
		phone:     phone,
		first:     spec.FirstName,
		last:      spec.LastName,
		username:  uname,
		about:     spec.About,
		bot:       spec.Bot,
		contacts:  map[int64]bool{},
		dialogs:   map[peerKey]*dialogState{},
		createdAt: st.srv.unix(),
	}
	a.box.msgs = map[int]*message{}
	if spec.Password != "" {
		ps, err := newPasswordState(spec.Password, spec.PasswordHint)
		if err != nil {
			return nil, err
		}
		a.password = ps
	}
	if len(spec.Photo) > 0 {
		p, err := st.newPhoto(spec.Photo)
		if err != nil {
			return nil, errf("UserSpec.Photo: %w", err)
		}
		a.photo = p
	}
	if spec.Bot {
		a.botToken = itoa(a.id) + ":" + hexID(randomBytes(16))
		st.byBotToken[a.botToken] = a
	}
	st.users[a.id] = a
	if phone != "" {
		st.byPhone[phone] = a
	}
	if uname != "" {
		st.byUsername[strings.ToLower(uname)] = userPeer(a.id)
	}
	return a, nil
}

func (s *Server) registerUsers(d *tg.ServerDispatcher) {
	st := s.state
	d.OnUsersGetUsers(func(ctx context.Context, ids []tg.InputUserClass) ([]tg.UserClass, error) {
		var out []tg.UserClass
		err := st.do(func(t *tx) error {
			viewer := callerFrom(ctx).userID
			for _, in := range ids {
				a, err := st.inputUser(viewer, in)
				if err != nil {
					if len(ids) == 1 {
						return err
					}
					continue
				}
				out = append(out, st.renderUser(viewer, a.id))
			}
			return nil
		})
		return out, err
	})
	d.OnUsersGetFullUser(func(ctx context.Context, in tg.InputUserClass) (*tg.UsersUserFull, error) {
		var out *tg.UsersUserFull
		err := st.do(func(t *tx) error {
			viewer := callerFrom(ctx).userID
			a, err := st.inputUser(viewer, in)
			if err != nil {
				return err
			}
			full := tg.UserFull{
				ID:             a.id,
				About:          a.about,
				Settings:       tg.PeerSettings{},
				NotifySettings: tg.PeerNotifySettings{},
			}
			if a.photo != nil {
				full.ProfilePhoto = st.renderPhoto(a.photo)
			}
			if a.bot {
				full.BotInfo = tg.BotInfo{UserID: a.id, Description: a.about}
			}
			common := 0
			for _, c := range st.chats {
				if _, ok := c.members[a.id]; ok {
					if _, ok := c.members[viewer]; ok && a.id != viewer {
						common++
					}
				}
			}
			full.CommonChatsCount = common
			users, chats := st.entities(viewer, []peerKey{userPeer(a.id)})
			out = &tg.UsersUserFull{FullUser: full, Users: users, Chats: chats}
			return nil
		})
		return out, err
	})
	d.OnContactsResolveUsername(func(ctx context.Context, req *tg.ContactsResolveUsernameRequest) (*tg.ContactsResolvedPeer, error) {
		var out *tg.ContactsResolvedPeer
		err := st.do(func(t *tx) error {
			p, ok := st.byUsername[strings.ToLower(strings.TrimPrefix(req.Username, "@"))]
			if !ok {
				return errUsernameNotOccup
			}
			users, chats := st.entities(callerFrom(ctx).userID, []peerKey{p})
			out = &tg.ContactsResolvedPeer{Peer: p.tg(), Users: users, Chats: chats}
			return nil
		})
		return out, err
	})
	d.OnContactsResolvePhone(func(ctx context.Context, phone string) (*tg.ContactsResolvedPeer, error) {
		var out *tg.ContactsResolvedPeer
		err := st.do(func(t *tx) error {
			a := st.byPhone[normalizePhone(phone)]
			if a == nil {
				return errPhoneNotOccupied
			}
			users, chats := st.entities(callerFrom(ctx).userID, []peerKey{userPeer(a.id)})
			out = &tg.ContactsResolvedPeer{Peer: userPeer(a.id).tg(), Users: users, Chats: chats}
			return nil
		})
		return out, err
	})
	d.OnContactsImportContacts(func(ctx context.Context, contacts []tg.InputPhoneContact) (*tg.ContactsImportedContacts, error) {
		out := &tg.ContactsImportedContacts{}
		err := st.do(func(t *tx) error {
			me, err := st.self(ctx)
			if err != nil {
				return err
			}
			var peers []peerKey
			for _, c := range contacts {
				a := st.byPhone[normalizePhone(c.Phone)]
				if a == nil || a.id == me.id {
					continue
				}
				me.contacts[a.id] = true
				out.Imported = append(out.Imported, tg.ImportedContact{UserID: a.id, ClientID: c.ClientID})
				peers = append(peers, userPeer(a.id))
			}
			out.Users, _ = st.entities(me.id, peers)
			return nil
		})
		return out, err
	})
	d.OnContactsGetContacts(func(ctx context.Context, hash int64) (tg.ContactsContactsClass, error) {
		out := &tg.ContactsContacts{}
		err := st.do(func(t *tx) error {
			me, err := st.self(ctx)
			if err != nil {
				return err
			}
			var peers []peerKey
			for id := range me.contacts {
				out.Contacts = append(out.Contacts, tg.Contact{UserID: id, Mutual: st.users[id] != nil && st.users[id].contacts[me.id]})
				peers = append(peers, userPeer(id))
			}
			out.SavedCount = len(out.Contacts)
			out.Users, _ = st.entities(me.id, peers)
			return nil
		})
		return out, err
	})
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
