package tgtestserver

import "github.com/gotd/td/tg"

// SetOnline pushes updateUserStatus (online for 5 minutes, or offline now)
// to everyone who sees the account, as Telegram apps do on open and close.
func (a *Actor) SetOnline(online bool) error {
	err := a.with(func(t *tx, me *account) error {
		me.online = online
		me.lastSeen = t.now
		for _, uid := range t.st.audience(me.id) {
			if uid == me.id {
				continue
			}
			t.push(uid, 0, []peerKey{userPeer(me.id)}, &tg.UpdateUserStatus{UserID: me.id, Status: me.status(t.now)})
		}
		return nil
	})
	return describe("set online", err)
}

func (a *account) status(now int) tg.UserStatusClass {
	switch {
	case a.online:
		return &tg.UserStatusOnline{Expires: now + 300}
	case a.lastSeen != 0:
		return &tg.UserStatusOffline{WasOnline: a.lastSeen}
	default:
		return &tg.UserStatusRecently{}
	}
}
