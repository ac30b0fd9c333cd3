package waexport

import "time"

// Platform is the app that wrote the export; the two differ in line
// format and in how attachments and system events are written.
type Platform string

// Platforms.
const (
	Android Platform = "android"
	IOS     Platform = "ios"
)

// DateOrder is the order of the day, month and year fields of dates.
type DateOrder int

// Date orders. DateOrderAuto detects the order from the file.
const (
	DateOrderAuto DateOrder = iota
	DayMonthYear
	MonthDayYear
	YearMonthDay
)

func (o DateOrder) String() string {
	switch o {
	case DayMonthYear:
		return "day/month/year"
	case MonthDayYear:
		return "month/day/year"
	case YearMonthDay:
		return "year/month/day"
	}
	return "auto"
}

// Sender is the author of a message as the export names it: the contact's
// name as saved on the exporting phone, or a phone number.
type Sender struct {
	// Name is the display name without WhatsApp's bidi marks and without
	// the "~ " that marks people who are not in the address book.
	Name string
	// Phone is the number in E.164 form ("+33612345678") when the export
	// shows a number instead of a name; "" otherwise.
	Phone string
	// ID is Phone when known, else Name: the best stable identity the
	// export offers.
	ID string
	// Self is true for "You" in system lines of the exporting user.
	Self bool
}

// Message is one entry of the chat: an ordinary message or a system event.
type Message struct {
	// Key is a stable identifier for idempotent imports: "wa:" followed by
	// the wall-clock time and a hash of sender and content, with "#n"
	// added for the n-th identical repeat. It does not depend on
	// Options.Location or on the position in the file.
	Key string
	// Line is the 1-based line in the .txt where the message starts.
	Line int
	// Time is the message time in Options.Location.
	Time time.Time
	// Sender is empty for system lines that have no author.
	Sender Sender
	// Text is the message text or caption.
	Text Text
	// Edited is set for messages marked "<This message was edited>".
	// WhatsApp does not export when the edit happened.
	Edited bool
	// Deleted is set for "This message was deleted" placeholders.
	Deleted  bool
	Media    *Media
	Location *Location
	Contact  *Contact
	Poll     *Poll
	// Service is set for system events (group changes, encryption
	// notice, calls).
	Service *Service
}

// Text is message text as written (the Matrix "body") and as Matrix HTML.
type Text struct {
	// Plain is the text as exported, WhatsApp markup included.
	Plain string
	// HTML is org.matrix.custom.html; "" when there is no formatting.
	HTML string
}

// MediaKind classifies an attachment.
type MediaKind string

// Media kinds. Unknown is used for "<Media omitted>", which does not say
// what was left out.
const (
	MediaUnknown   MediaKind = ""
	MediaPhoto     MediaKind = "photo"
	MediaVideo     MediaKind = "video"
	MediaAnimation MediaKind = "animation"
	MediaVoice     MediaKind = "voice"
	MediaAudio     MediaKind = "audio"
	MediaSticker   MediaKind = "sticker"
	MediaFile      MediaKind = "file"
)

// Media is an attachment. When the chat was exported "without media" only
// Omitted and maybe Kind are set.
type Media struct {
	Kind MediaKind
	// Path is the file name inside the export (zip entry or file next to
	// the .txt), e.g. "00000012-PHOTO-2023-12-31-21-41-05.jpg".
	Path string
	MIME string
	// Size is in bytes when the file is in the export, else 0.
	Size int64
	// Present is true when the file was found in the zip or folder.
	Present bool
	// Omitted is true when WhatsApp left the file out of the export.
	Omitted bool
	// Description is the text iOS puts before a document attachment, e.g.
	// "Report.pdf • 3 pages".
	Description string
}

// Location is a shared position.
type Location struct {
	Latitude  float64
	Longitude float64
	// URL is the map link as exported.
	URL string
	// Live is set for "live location shared", which has no coordinates.
	Live bool
}

// Contact is a shared contact card.
type Contact struct {
	// Name is the contact's name (from the .vcf name or the card).
	Name string
	// Phones are the numbers of the card, E.164 where possible, when the
	// .vcf file is in the export.
	Phones []string
	// VCard is the .vcf path inside the export when the file is there.
	VCard string
}

// Poll is a poll as exported with its vote counts.
type Poll struct {
	Question string
	Options  []PollOption
}

// PollOption is one answer of a poll.
type PollOption struct {
	Text  string
	Votes int
}

// Service is a system event.
type Service struct {
	// Action is one of: encryption_notice, create_group, add_members,
	// remove_members, leave, join, change_subject, change_icon,
	// delete_icon, change_description, change_settings, change_number,
	// pin_message, security_code_changed, disappearing_messages, admin,
	// block, call, other. "other" keeps system lines this package does
	// not recognise.
	Action string
	// Actor is who did it, when the line names someone.
	Actor Sender
	// Members are the people added or removed.
	Members []Sender
	// Subject is the new group subject; OldSubject the previous one when
	// given.
	Subject    string
	OldSubject string
	// Text is the system line as exported.
	Text string
}
