package importer

import (
	"io"
	"iter"
	"time"

	"github.com/passerelle-bridge/passerelle/portal"
)

// A Source is a parsed export seen the same way whatever app wrote it: chats whose messages
// arrive in order, each with a stable key. Adapters (source_tg.go, source_wa.go) translate the
// parsers' models into it, so the engine knows nothing of JSON or .txt line formats.
type Source interface {
	Network() portal.Network
	// Items yields every message of every chat in export order. A parse error is yielded as the
	// last value, naming the file and the line or JSON path.
	Items() iter.Seq2[*Item, error]
	// OpenMedia opens an attachment by its path inside the export.
	OpenMedia(path string) (io.ReadCloser, error)
	Close() error
}

// ChatRef identifies the chat an item belongs to.
type ChatRef struct {
	// Key is unique per chat within the export.
	Key  string
	Name string
	// Peer is the Telegram chat, when known.
	TGPeer *portal.TGPeer
	// DM is true for one-to-one chats.
	DM bool
	// OtherUser is the other side of a DM, when known.
	OtherUser *SenderRef
}

// SenderRef is a message author as the export gives it.
type SenderRef struct {
	// TG is the Telegram peer (user or channel) when the export gives from_id.
	TG *portal.TGPeer
	// Phone is an E.164 number when the export shows one (WhatsApp).
	Phone string
	// Name is the display name at export time.
	Name string
	// Self marks the exporting user when the export says so (WhatsApp "You").
	Self bool
}

// Item is one message in a network-neutral form.
type Item struct {
	Chat *ChatRef
	// Key is stable across re-reads and re-exports.
	Key string
	// RemoteID is the network's message ID when the export has one (Telegram), else 0.
	RemoteID int
	// Pos locates the message for error reports: "result.json $.messages[4]", "chat.txt:12".
	Pos    string
	Time   time.Time
	Sender SenderRef
	// ReplyTo is the key of the message this one answers, "" if none.
	ReplyTo string
	// Edited says the text is the final one after edits; EditedAt is when, if known.
	Edited   bool
	EditedAt time.Time
	Deleted  bool
	// Forwarded names the original author of a forwarded message.
	Forwarded string
	Text      string
	HTML      string
	// Service marks an event of the chat (member joined, title changed…), sent as a notice.
	Service  bool
	Media    *Media
	Location *Location
	Contact  *Contact
	Poll     *Poll
	// Extra is appended to the body on a line of its own (things the model has no field for,
	// e.g. reactions counted at export time).
	Extra string
}

// MediaKind classifies an attachment for the Matrix message type.
type MediaKind string

const (
	MediaImage   MediaKind = "image"
	MediaVideo   MediaKind = "video"
	MediaAudio   MediaKind = "audio"
	MediaVoice   MediaKind = "voice"
	MediaSticker MediaKind = "sticker"
	MediaFile    MediaKind = "file"
)

// Media is an attachment. Path is empty when the export left the file out; Missing then says why.
type Media struct {
	Kind     MediaKind
	Path     string
	Missing  string
	FileName string
	MIME     string
	Size     int64
	Width    int
	Height   int
	Duration time.Duration
}

// Location is a shared position.
type Location struct {
	Latitude, Longitude float64
	Description         string
	Live                bool
}

// Contact is a shared contact card.
type Contact struct {
	Name   string
	Phones []string
}

// Poll is a poll with its results at export time.
type Poll struct {
	Question string
	Answers  []PollAnswer
	Closed   bool
}

// PollAnswer is one option and its vote count (-1 when unknown).
type PollAnswer struct {
	Text  string
	Votes int
}
