package portal

import (
	"maunium.net/go/mautrix/bridgev2/database"

	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// bridgev2 has one metadata type per table, while its tables hold rows of both networks: each
// holder below carries the fields of the network its row belongs to and leaves the other nil.

// LoginMeta is the user_login metadata.
type LoginMeta struct {
	WA *wameta.Login `json:"wa,omitempty"`
	TG *tgmeta.Login `json:"tg,omitempty"`
}

// PortalMeta is the portal metadata.
type PortalMeta struct {
	WA *wameta.Portal `json:"wa,omitempty"`
	TG *tgmeta.Portal `json:"tg,omitempty"`
}

// GhostMeta is the ghost metadata.
type GhostMeta struct {
	WA *wameta.Ghost `json:"wa,omitempty"`
	TG *tgmeta.Ghost `json:"tg,omitempty"`
}

// MessageMeta is the message metadata.
type MessageMeta struct {
	WA *wameta.Message `json:"wa,omitempty"`
	TG *tgmeta.Message `json:"tg,omitempty"`
}

// ReactionMeta is the reaction metadata.
type ReactionMeta struct {
	WA *wameta.Reaction `json:"wa,omitempty"`
	TG *tgmeta.Reaction `json:"tg,omitempty"`
}

// MetaTypes is what the composite connector gives bridgev2 for its shared tables.
func MetaTypes() database.MetaTypes {
	return database.MetaTypes{
		Portal:    func() any { return &PortalMeta{} },
		Ghost:     func() any { return &GhostMeta{} },
		Message:   func() any { return &MessageMeta{} },
		Reaction:  func() any { return &ReactionMeta{} },
		UserLogin: func() any { return &LoginMeta{} },
	}
}
