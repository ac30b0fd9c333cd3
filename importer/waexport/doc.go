// Package waexport reads WhatsApp's "Export chat" output: the chat .txt on
// its own, or the .zip that also holds the media, from Android or iOS, in
// the date and clock formats of common locales, so that the history can be
// imported into Matrix rooms.
//
// The package has no dependency on the bridge. It turns the export into
// [Message] values (sender with E.164 phone when the sender is a number,
// time, text with Matrix HTML converted from WhatsApp's *bold*, _italic_,
// ~strike~ and ```monospace``` markup, edit and deletion marks, media with
// its file name inside the export, location, contact, poll, system events)
// and leaves sending to the caller.
//
// WhatsApp writes local wall-clock times without a zone and dates in the
// phone's locale order. The order (day/month or month/day) is detected
// from the whole file (a first field above 12 means day first, and so on);
// [Options.DateOrder] overrides it and [Options.Location] sets the zone.
//
// Recognised line formats (the date fields in either order, 2- or 4-digit
// years, "/", "." or "-" between them, optional seconds, 24-hour or
// 12-hour clocks with AM/PM, am/pm or "p. m." after a space, no-break
// space or narrow no-break space):
//
//	Android  12/31/23, 9:41 PM - Ann: text
//	         31.12.23, 21:41 - Ann: text
//	         2023-12-31 21:41 - Ann: text
//	iOS      [31/12/2023, 21:41:05] Ann: text
//	         ‎[12/31/23, 9:41:05 PM] Ann: ‎<attached: 00000012-PHOTO-2023-12-31-21-41-05.jpg>
//
// Lines that do not start that way continue the message above. System
// lines (no sender on Android; sent "by" the chat with a U+200E mark on
// iOS) are recognised in English; others are kept as [Service] "other"
// with their text. Media, deletion and edit markers are also recognised in
// French, German and Spanish Android exports.
//
// Exports carry no message IDs, replies or forward marks: WhatsApp leaves
// them out. [Message.Key] is derived from the wall-clock time, sender and
// content, so it stays the same when the same chat is exported again later
// with more messages, which makes imports idempotent and resumable.
package waexport
