package portal

import (
	"fmt"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/bridgev2/networkid"
)

// TGPeerKind is the kind of a Telegram peer; user, basic-group and channel IDs are separate
// number spaces, so every ID that names a peer says which kind it is.
type TGPeerKind byte

const (
	TGUser    TGPeerKind = 'u'
	TGChat    TGPeerKind = 'g' // basic group
	TGChannel TGPeerKind = 'c' // supergroup, channel or forum
)

// TGPeer is a Telegram peer as Passerelle stores it.
type TGPeer struct {
	Kind TGPeerKind
	ID   int64
}

func (p TGPeer) String() string { return string(p.Kind) + strconv.FormatInt(p.ID, 10) }

func parseTGPeer(s string) (TGPeer, bool) {
	if len(s) < 2 {
		return TGPeer{}, false
	}
	kind := TGPeerKind(s[0])
	if kind != TGUser && kind != TGChat && kind != TGChannel {
		return TGPeer{}, false
	}
	n, err := strconv.ParseInt(s[1:], 10, 64)
	if err != nil || n <= 0 || strconv.FormatInt(n, 10) != s[1:] {
		return TGPeer{}, false
	}
	return TGPeer{Kind: kind, ID: n}, true
}

// Telegram portal IDs: "tg.u123" (DM), "tg.g123" (basic group), "tg.c123" (supergroup/channel),
// "tg.c123.t45" (forum topic 45). Ghosts: "tg.123" for users, "tg.c123" for channels that post
// as themselves. Logins: "tg.123". Messages: "tg.<scope>.<id>" where the scope is the channel for
// channel messages and the account ("u<id>") elsewhere, because Telegram numbers private and
// basic-group messages per account, not per chat.

// TGPortalID is the portal ID of a Telegram chat; topic is 0 outside forum topics.
func TGPortalID(peer TGPeer, topic int) networkid.PortalID {
	id := Telegram.prefix() + peer.String()
	if topic != 0 {
		id += ".t" + strconv.Itoa(topic)
	}
	return networkid.PortalID(id)
}

// ParseTGPortalID returns the peer and forum topic (0 if none) of a Telegram portal ID.
func ParseTGPortalID(id networkid.PortalID) (TGPeer, int, error) {
	rest, err := strip(Telegram, "portal ID", string(id))
	if err != nil {
		return TGPeer{}, 0, err
	}
	peerPart, topicPart, hasTopic := strings.Cut(rest, ".")
	peer, ok := parseTGPeer(peerPart)
	if !ok {
		return TGPeer{}, 0, fmt.Errorf("portal ID %q: %q is not a Telegram peer (u<id>, g<id> or c<id>): %w", id, peerPart, ErrMalformedID)
	}
	if !hasTopic {
		return peer, 0, nil
	}
	topic, ok := canonicalInt(strings.TrimPrefix(topicPart, "t"))
	if !strings.HasPrefix(topicPart, "t") || !ok || peer.Kind != TGChannel {
		return TGPeer{}, 0, fmt.Errorf("portal ID %q: topic %q must be t<number> on a channel: %w", id, topicPart, ErrMalformedID)
	}
	return peer, topic, nil
}

// TGUserID is the ghost ID of a Telegram sender: a user, or a channel posting as itself.
func TGUserID(sender TGPeer) networkid.UserID {
	if sender.Kind == TGUser {
		return networkid.UserID(Telegram.prefix() + strconv.FormatInt(sender.ID, 10))
	}
	return networkid.UserID(Telegram.prefix() + sender.String())
}

// ParseTGUserID returns the peer of a Telegram ghost ID.
func ParseTGUserID(id networkid.UserID) (TGPeer, error) {
	rest, err := strip(Telegram, "user ID", string(id))
	if err != nil {
		return TGPeer{}, err
	}
	if isDigits(rest) {
		if peer, ok := parseTGPeer("u" + rest); ok {
			return peer, nil
		}
	} else if peer, ok := parseTGPeer(rest); ok && peer.Kind == TGChannel {
		return peer, nil
	}
	return TGPeer{}, fmt.Errorf("user ID %q: want tg.<user id> or tg.c<channel id>: %w", id, ErrMalformedID)
}

// TGLoginID is the login ID of a Telegram account.
func TGLoginID(userID int64) networkid.UserLoginID {
	return networkid.UserLoginID(Telegram.prefix() + strconv.FormatInt(userID, 10))
}

// ParseTGLoginID returns the Telegram user ID of a login ID.
func ParseTGLoginID(id networkid.UserLoginID) (int64, error) {
	rest, err := strip(Telegram, "login ID", string(id))
	if err != nil {
		return 0, err
	}
	peer, ok := parseTGPeer("u" + rest)
	if !ok || !isDigits(rest) {
		return 0, fmt.Errorf("login ID %q: want tg.<user id>: %w", id, ErrMalformedID)
	}
	return peer.ID, nil
}

// TGMessageScope is the numbering space of a Telegram message: the channel for channel and
// supergroup messages, the receiving account for DMs and basic groups.
func TGMessageScope(chat TGPeer, accountID int64) TGPeer {
	if chat.Kind == TGChannel {
		return chat
	}
	return TGPeer{Kind: TGUser, ID: accountID}
}

// TGMessageID is the message ID of a Telegram message in a numbering scope (see TGMessageScope).
func TGMessageID(scope TGPeer, msgID int) networkid.MessageID {
	return networkid.MessageID(Telegram.prefix() + scope.String() + "." + strconv.Itoa(msgID))
}

// ParseTGMessageID returns the scope and Telegram message ID.
func ParseTGMessageID(id networkid.MessageID) (TGPeer, int, error) {
	rest, err := strip(Telegram, "message ID", string(id))
	if err != nil {
		return TGPeer{}, 0, err
	}
	scopePart, msgPart, ok := strings.Cut(rest, ".")
	scope, okScope := parseTGPeer(scopePart)
	msgID, okMsg := canonicalInt(msgPart)
	if !ok || !okScope || scope.Kind == TGChat || !okMsg {
		return TGPeer{}, 0, fmt.Errorf("message ID %q: want tg.<u|c><id>.<message id>: %w", id, ErrMalformedID)
	}
	return scope, msgID, nil
}

// canonicalInt parses a positive decimal number written as strconv.Itoa writes it (no sign, no
// leading zeros), so that every accepted ID re-encodes to the same string.
func canonicalInt(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 || strconv.Itoa(n) != s {
		return 0, false
	}
	return n, true
}
