package tgexport

import (
	"encoding/json"
	"time"
)

// PeerKind says what kind of Telegram peer an export identifier such as
// "user123" or "channel123" names.
type PeerKind string

// Peer kinds as they appear as prefixes of from_id/actor_id values.
const (
	PeerUser    PeerKind = "user"
	PeerChannel PeerKind = "channel"
	PeerChat    PeerKind = "chat"
)

// Peer is a user, channel or basic group as named by the export. The export
// gives both a display name (at export time) and an identifier; either may
// be missing (deleted accounts have a null name).
type Peer struct {
	// Raw is the identifier exactly as exported, e.g. "user123".
	Raw string
	// Kind and ID are Raw split into its prefix and number.
	Kind PeerKind
	ID   int64
	// Name is the display name at export time; "" for deleted accounts.
	Name string
}

// IsZero reports whether the peer carries no information at all.
func (p Peer) IsZero() bool { return p.Raw == "" && p.Name == "" }

// Chat is one conversation of the export. Name and Type may only be known
// once the chat's object has been read completely when the JSON has them
// after "messages" (Telegram Desktop writes them first).
type Chat struct {
	// ID is Telegram's chat identifier (a user ID for personal chats).
	ID int64
	// Name is the chat title or the other person's name.
	Name string
	// Type is the export's chat type, e.g. "personal_chat",
	// "private_group", "private_supergroup", "public_channel",
	// "saved_messages", "bot_chat".
	Type string
	// Left is true for chats listed under "left_chats".
	Left bool
	// Path is the JSON path of the chat object, e.g. "$.chats.list[3]".
	Path string
	// Unsupported holds chat-level fields the package does not model.
	Unsupported []Unsupported
}

// Message is one entry of a chat's "messages" array: an ordinary message
// (possibly with media, location, contact or poll) or a service event.
type Message struct {
	// Key is stable across re-reads and re-exports of the same chat:
	// "tg:<chat id>:<message id>". Use it to make imports idempotent.
	Key string
	// ID is the Telegram message ID, unique within the chat.
	ID int64
	// Chat is the chat the message belongs to.
	Chat *Chat
	// Path is the JSON path of the message, for error reports.
	Path string
	// Time is when the message was sent. Exports with date_unixtime give an
	// exact instant; older ones only give local wall time, which is read
	// in [Options.Location].
	Time time.Time
	// Sender is the author ("from"/"from_id") or, for service events, the
	// actor ("actor"/"actor_id").
	Sender Peer
	// Author is the signature of a channel post, if any.
	Author string
	// ViaBot is the inline bot the message was sent through ("@bot").
	ViaBot string
	// Text is the message text or media caption.
	Text Text
	// ReplyTo is the ID of the message this one replies to, 0 if none.
	ReplyTo int64
	// ReplyToPeer is set when the replied-to message is in another chat.
	ReplyToPeer Peer
	// Edited is the time of the last edit; zero if never edited.
	Edited time.Time
	// Forwarded is set for forwarded messages.
	Forwarded *Forward
	Media     *Media
	Location  *Location
	Contact   *Contact
	Poll      *Poll
	// Service is set for service messages (type "service").
	Service   *Service
	Reactions []Reaction
	// Unsupported holds every field, entity or type the package does not
	// model, with its raw JSON, so that nothing is silently dropped.
	Unsupported []Unsupported
}

// Text is message text in three forms: the export's entity list, plain text
// for the Matrix "body", and Matrix HTML for "formatted_body".
type Text struct {
	// Entities is the text split into typed pieces, in order.
	Entities []Entity
	// Plain is all the pieces concatenated.
	Plain string
	// HTML is org.matrix.custom.html; "" when the text has no formatting.
	HTML string
}

// Entity is one piece of formatted text. Types are those of Telegram
// Desktop: plain, bold, italic, underline, strikethrough, spoiler, code, pre,
// text_link, link, mention, mention_name, hashtag, cashtag, bot_command,
// email, phone, bank_card, blockquote, custom_emoji.
type Entity struct {
	Type string
	Text string
	// Href is the target of a text_link.
	Href string
	// UserID is the user a mention_name points at.
	UserID int64
	// Language is the language of a pre block.
	Language string
	// DocumentID is the custom emoji's document.
	DocumentID string
	// Collapsed is set on collapsed blockquotes.
	Collapsed bool
}

// Forward describes where a forwarded message came from.
type Forward struct {
	// From is the original author's name ("forwarded_from").
	From string
	// FromID is the original author's peer, when exported.
	FromID Peer
	// SavedFrom is the chat a message in Saved Messages was saved from.
	SavedFrom string
}

// MediaKind classifies an attachment.
type MediaKind string

// Media kinds. File is a generic document.
const (
	MediaPhoto        MediaKind = "photo"
	MediaVideo        MediaKind = "video"
	MediaAnimation    MediaKind = "animation"
	MediaVideoMessage MediaKind = "video_message"
	MediaVoice        MediaKind = "voice"
	MediaAudio        MediaKind = "audio"
	MediaSticker      MediaKind = "sticker"
	MediaFile         MediaKind = "file"
)

// Media is an attachment. Path is relative to the export directory and uses
// forward slashes; it is empty when the file was not exported, in which case
// Missing holds Telegram's explanation.
type Media struct {
	Kind MediaKind
	// Path is e.g. "photos/photo_1@31-12-2023_21-41-05.jpg".
	Path string
	// Missing is Telegram's note when the file is not in the export, e.g.
	// "(File not included. Change data exporting settings to download.)".
	Missing string
	// FileName is the original file name of a document, if known.
	FileName string
	MIME     string
	// Size is in bytes, 0 when unknown.
	Size     int64
	Duration time.Duration
	Width    int
	Height   int
	// Thumbnail is the path of the thumbnail, if exported.
	Thumbnail string
	// StickerEmoji is the emoji a sticker stands for.
	StickerEmoji string
	// Performer and Title describe audio files.
	Performer string
	Title     string
	// Spoiler is set when the media is hidden behind a spoiler.
	Spoiler bool
}

// Location is a shared point, venue or live location.
type Location struct {
	Latitude  float64
	Longitude float64
	// LivePeriod is set for live locations.
	LivePeriod time.Duration
	// Place and Address describe a venue.
	Place   string
	Address string
}

// Contact is a shared contact card.
type Contact struct {
	FirstName string
	LastName  string
	// Phone is normalised to E.164 ("+33612345678") when it looks like an
	// international number; PhoneRaw is as exported.
	Phone    string
	PhoneRaw string
	// VCard is the path of the exported vCard file, if any.
	VCard string
}

// Poll is a poll with its results at export time.
type Poll struct {
	Question    string
	Closed      bool
	TotalVoters int
	Answers     []PollAnswer
}

// PollAnswer is one option of a poll.
type PollAnswer struct {
	Text   string
	Voters int
	// Chosen is true when the exporting user voted for it.
	Chosen bool
}

// Service is a service event such as a group creation or a pinned message.
type Service struct {
	// Action is the export's action name, e.g. "create_group",
	// "invite_members", "remove_members", "edit_group_title",
	// "edit_group_photo", "delete_group_photo", "pin_message",
	// "migrate_to_supergroup", "migrate_from_group", "phone_call",
	// "join_group_by_link". Unknown actions are kept verbatim.
	Action string
	// Title is the new or initial group title.
	Title string
	// Members are the names of invited/removed/initial members ("" for
	// deleted accounts).
	Members []string
	// MessageID is the pinned message for pin_message.
	MessageID int64
	// Inviter is who shared the invite link for join_group_by_link.
	Inviter string
	// Duration and DiscardReason describe calls.
	Duration      time.Duration
	DiscardReason string
	// Photo is the new group photo for edit_group_photo.
	Photo *Media
}

// Reaction is the count of one reaction on a message.
type Reaction struct {
	// Type is "emoji", "custom_emoji" or "paid".
	Type       string
	Emoji      string
	DocumentID string
	Count      int
	// Recent is who reacted lately, as far as the export lists them.
	Recent []Reactor
}

// Reactor is one person who reacted, with when, if exported.
type Reactor struct {
	Peer Peer
	Time time.Time
}

// Unsupported is a well-formed part of the export that this package does
// not model. Path names it ("$.messages[4].game_title"); Raw is its JSON.
type Unsupported struct {
	Path string
	Raw  json.RawMessage
}
