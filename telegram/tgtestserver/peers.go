package tgtestserver

import (
	"context"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var (
	errPeerIDInvalid    = tgerr.New(400, "PEER_ID_INVALID")
	errUserIDInvalid    = tgerr.New(400, "USER_ID_INVALID")
	errChannelInvalid   = tgerr.New(400, "CHANNEL_INVALID")
	errChatIDInvalid    = tgerr.New(400, "CHAT_ID_INVALID")
	errMessageIDInvalid = tgerr.New(400, "MESSAGE_ID_INVALID")
	errChatWriteForbid  = tgerr.New(403, "CHAT_WRITE_FORBIDDEN")
	errChannelPrivate   = tgerr.New(400, "CHANNEL_PRIVATE")
	errUserNotPart      = tgerr.New(400, "USER_NOT_PARTICIPANT")
	errChatAdminReq     = tgerr.New(400, "CHAT_ADMIN_REQUIRED")
)

// self is the caller's account; the store must be locked.
func (st *store) self(ctx context.Context) (*account, error) {
	c := callerFrom(ctx)
	a := st.users[c.userID]
	if a == nil {
		return nil, errAuthKeyUnregistered
	}
	return a, nil
}

func (c *channel) isPublic() bool { return c.username != "" }

// inputUser resolves an InputUser for viewer, checking the access hash.
func (st *store) inputUser(viewer int64, in tg.InputUserClass) (*account, error) {
	switch u := in.(type) {
	case *tg.InputUserSelf:
		if a := st.users[viewer]; a != nil {
			return a, nil
		}
	case *tg.InputUser:
		a := st.users[u.UserID]
		if a != nil && (u.AccessHash == st.accessHash(viewer, u.UserID) || u.UserID == viewer) {
			return a, nil
		}
	case *tg.InputUserFromMessage:
		if a := st.users[u.UserID]; a != nil {
			return a, nil
		}
	}
	return nil, errUserIDInvalid
}

// inputPeer resolves an InputPeer for viewer. A wrong access hash answers
// PEER_ID_INVALID (users) or CHANNEL_INVALID (channels), as Telegram does.
func (st *store) inputPeer(viewer int64, in tg.InputPeerClass) (peerKey, error) {
	switch p := in.(type) {
	case *tg.InputPeerSelf:
		return userPeer(viewer), nil
	case *tg.InputPeerUser:
		if a := st.users[p.UserID]; a != nil && (p.AccessHash == st.accessHash(viewer, p.UserID) || p.UserID == viewer) {
			return userPeer(a.id), nil
		}
		return peerKey{}, errPeerIDInvalid
	case *tg.InputPeerUserFromMessage:
		if st.users[p.UserID] != nil {
			return userPeer(p.UserID), nil
		}
		return peerKey{}, errPeerIDInvalid
	case *tg.InputPeerChat:
		if st.chats[p.ChatID] != nil {
			return chatPeer(p.ChatID), nil
		}
		return peerKey{}, errPeerIDInvalid
	case *tg.InputPeerChannel:
		if st.channels[p.ChannelID] != nil && p.AccessHash == st.accessHash(viewer, p.ChannelID) {
			return channelPeer(p.ChannelID), nil
		}
		return peerKey{}, errChannelInvalid
	case *tg.InputPeerChannelFromMessage:
		if st.channels[p.ChannelID] != nil {
			return channelPeer(p.ChannelID), nil
		}
		return peerKey{}, errChannelInvalid
	}
	return peerKey{}, errPeerIDInvalid
}

// inputChannel resolves an InputChannel for viewer.
func (st *store) inputChannel(viewer int64, in tg.InputChannelClass) (*channel, error) {
	switch p := in.(type) {
	case *tg.InputChannel:
		if c := st.channels[p.ChannelID]; c != nil && p.AccessHash == st.accessHash(viewer, p.ChannelID) {
			return c, nil
		}
	case *tg.InputChannelFromMessage:
		if c := st.channels[p.ChannelID]; c != nil {
			return c, nil
		}
	}
	return nil, errChannelInvalid
}

// normalizePhone keeps the digits of a phone number.
func normalizePhone(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
