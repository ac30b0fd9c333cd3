// Package wameta holds the WhatsApp fields that Passerelle keeps in bridgev2's shared tables
// (portal, ghost, message, reaction, user_login). It imports nothing from the project so that the
// cross-network metadata holders in package portal can embed it without an import cycle.
package wameta

// Login is kept per linked WhatsApp device.
type Login struct {
	// WADeviceID is the device number whatsmeow was paired as; with the login's phone it finds
	// the device in the device store.
	WADeviceID uint16 `json:"wa_device_id,omitempty"`
	// LID is the account's hidden user ID, learnt at pairing.
	LID string `json:"lid,omitempty"`
}

// Portal is kept per WhatsApp chat.
type Portal struct {
	// CommunityJID is set on groups that belong to a community (bridged as a space).
	CommunityJID string `json:"community_jid,omitempty"`
	// AnnounceOnly mirrors the group's "only admins can send" setting.
	AnnounceOnly bool `json:"announce_only,omitempty"`
}

// Ghost is kept per WhatsApp person.
type Ghost struct {
	// AvatarID is WhatsApp's picture ID, so the avatar is fetched again only when it changes.
	AvatarID string `json:"avatar_id,omitempty"`
	// PhoneJID is the phone-number form of a person first seen by LID.
	PhoneJID string `json:"phone_jid,omitempty"`
}

// Message is kept per bridged WhatsApp message.
type Message struct {
	// SenderDevice distinguishes which of the sender's devices sent it, for retry receipts.
	SenderDevice uint16 `json:"sender_device,omitempty"`
	// Undecryptable marks a "waiting for this message" notice that a later decryption replaces.
	Undecryptable bool `json:"undecryptable,omitempty"`
	// PollOptions are the option names of a poll, in order: WhatsApp votes carry hashes of the
	// names and Matrix votes carry the option's position.
	PollOptions []string `json:"poll_options,omitempty"`
	// PollAnswerIDs are the Matrix answer IDs of a poll started in Matrix, in option order.
	PollAnswerIDs []string `json:"poll_answer_ids,omitempty"`
}

// Reaction is kept per bridged WhatsApp reaction.
type Reaction struct{}
