// Package tgexport reads the machine-readable JSON that Telegram Desktop
// writes with "Export chat history" (one chat, result.json with a top-level
// "messages" array) or "Export Telegram data" (the whole account, result.json
// with "chats": {"list": [...]} and "left_chats"), so that years of history
// can be imported into Matrix rooms.
//
// The package has no dependency on the bridge: it turns the export into
// [Message] values (sender, time, text with Matrix HTML, reply, edit,
// forward, media with its path relative to the export directory, location,
// contact, poll, service events) and leaves sending to the caller.
//
// The JSON is streamed: [Reader] walks the document token by token and
// decodes one message at a time, so a multi-gigabyte export never has to fit
// in memory. Because messages are handed out as they are read, an error found
// late in a file arrives after earlier messages; every message carries a
// stable [Message.Key] so that an importer can stop on the error, let the
// user fix or re-export, and resume without duplicates.
//
// Fields read from each message: id, type ("message", "service"),
// date/date_unixtime, edited/edited_unixtime, from/from_id ("user123",
// "channel123", or a bare number in Telegram Desktop 1.x exports), author,
// via_bot, text (string or array) and text_entities, reply_to_message_id,
// reply_to_peer_id, forwarded_from, forwarded_from_id, saved_from, photo,
// file, file_name, file_size, photo_file_size, thumbnail, media_type,
// mime_type, duration_seconds, width, height, sticker_emoji, performer,
// title, media_spoiler, location_information, live_location_period_seconds,
// place_name, address, contact_information, contact_vcard, poll,
// reactions; and for service messages actor/actor_id, action, title,
// members, message_id, inviter, duration_seconds, discard_reason, photo.
//
// Anything well-formed that the package does not model (a new message field,
// an unknown entity type, a top-level section such as "contacts") is kept as
// an [Unsupported] item with its raw JSON instead of being dropped.
package tgexport
