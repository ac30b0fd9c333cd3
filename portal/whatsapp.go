package portal

import (
	"fmt"
	"strings"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2/networkid"
)

// WhatsApp portal IDs are the chat's JID without device: "wa.33612345678@s.whatsapp.net",
// "wa.120363025246125888@g.us". Ghost and login IDs carry only the user part, because one person
// is one ghost whatever server suffix a message used: phone numbers as "wa.33612345678", and users
// known only by their hidden LID as "wa.lid-123456789".

const waLIDPrefix = "lid-"

// WAPortalID is the portal ID of a WhatsApp chat.
func WAPortalID(chat types.JID) networkid.PortalID {
	return networkid.PortalID(WhatsApp.prefix() + chat.ToNonAD().String())
}

// ParseWAPortalID returns the chat JID of a WhatsApp portal ID.
func ParseWAPortalID(id networkid.PortalID) (types.JID, error) {
	rest, err := strip(WhatsApp, "portal ID", string(id))
	if err != nil {
		return types.JID{}, err
	}
	jid, ok := canonicalJID(rest)
	if !ok {
		return types.JID{}, fmt.Errorf("portal ID %q: %q is not a WhatsApp chat JID (like 33612345678@s.whatsapp.net): %w", id, rest, ErrMalformedID)
	}
	return jid, nil
}

// WAUserID is the ghost ID of a WhatsApp user, from a phone-number or LID JID.
func WAUserID(user types.JID) networkid.UserID {
	switch user.Server {
	case types.HiddenUserServer:
		return networkid.UserID(WhatsApp.prefix() + waLIDPrefix + user.User)
	default:
		return networkid.UserID(WhatsApp.prefix() + user.User)
	}
}

// ParseWAUserID returns the JID (s.whatsapp.net or lid) of a WhatsApp ghost ID.
func ParseWAUserID(id networkid.UserID) (types.JID, error) {
	rest, err := strip(WhatsApp, "user ID", string(id))
	if err != nil {
		return types.JID{}, err
	}
	server := types.DefaultUserServer
	if lid, ok := strings.CutPrefix(rest, waLIDPrefix); ok {
		rest, server = lid, types.HiddenUserServer
	}
	if !isDigits(rest) {
		return types.JID{}, fmt.Errorf("user ID %q: %q is not a WhatsApp number (digits only, with country code): %w", id, rest, ErrMalformedID)
	}
	return types.NewJID(rest, server), nil
}

// WALoginID is the login ID of a linked WhatsApp account, from its phone-number JID.
func WALoginID(account types.JID) networkid.UserLoginID {
	return networkid.UserLoginID(WhatsApp.prefix() + account.User)
}

// ParseWALoginID returns the account JID of a WhatsApp login ID.
func ParseWALoginID(id networkid.UserLoginID) (types.JID, error) {
	rest, err := strip(WhatsApp, "login ID", string(id))
	if err != nil {
		return types.JID{}, err
	}
	if !isDigits(rest) {
		return types.JID{}, fmt.Errorf("login ID %q: %q is not a WhatsApp number: %w", id, rest, ErrMalformedID)
	}
	return types.NewJID(rest, types.DefaultUserServer), nil
}

// WAMessageRef identifies a WhatsApp message: IDs are only unique per sender within a chat.
type WAMessageRef struct {
	Chat   types.JID
	Sender types.JID
	ID     types.MessageID
}

// WAMessageID is the message ID of a WhatsApp message: "wa.<chat>/<sender>/<id>".
func WAMessageID(chat, sender types.JID, id types.MessageID) networkid.MessageID {
	return networkid.MessageID(WhatsApp.prefix() + chat.ToNonAD().String() + "/" + sender.ToNonAD().String() + "/" + id)
}

// MessageID is the bridgev2 ID of the message.
func (r WAMessageRef) MessageID() networkid.MessageID { return WAMessageID(r.Chat, r.Sender, r.ID) }

// ParseWAMessageID splits a WhatsApp message ID into chat, sender and WhatsApp message ID.
func ParseWAMessageID(id networkid.MessageID) (WAMessageRef, error) {
	rest, err := strip(WhatsApp, "message ID", string(id))
	if err != nil {
		return WAMessageRef{}, err
	}
	parts := strings.SplitN(rest, "/", 3)
	if len(parts) != 3 || parts[2] == "" {
		return WAMessageRef{}, fmt.Errorf("message ID %q: want wa.<chat JID>/<sender JID>/<message ID>: %w", id, ErrMalformedID)
	}
	chat, ok1 := canonicalJID(parts[0])
	sender, ok2 := canonicalJID(parts[1])
	if !ok1 || !ok2 {
		return WAMessageRef{}, fmt.Errorf("message ID %q: chat %q or sender %q is not a JID: %w", id, parts[0], parts[1], ErrMalformedID)
	}
	return WAMessageRef{Chat: chat, Sender: sender, ID: parts[2]}, nil
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// canonicalJID parses a device-less JID with a user part, accepting only the text
// types.JID.String writes for it, so that every accepted ID re-encodes to the same string.
func canonicalJID(s string) (types.JID, bool) {
	if !strings.Contains(s, "@") {
		return types.JID{}, false
	}
	jid, err := types.ParseJID(s)
	if err != nil || jid.User == "" || jid.Server == "" || jid.ToNonAD().String() != s {
		return types.JID{}, false
	}
	return jid.ToNonAD(), true
}
