package tgexport

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// decodeMessage turns one element of a "messages" array into a Message.
func decodeMessage(m map[string]json.RawMessage, chat *Chat, path string, loc *time.Location) (*Message, error) {
	f := &fields{m: m, numericKind: PeerUser}
	if strings.Contains(chat.Type, "channel") {
		f.numericKind = PeerChannel
	}
	if !f.has("id") {
		return nil, &fieldError{field: ".id", err: errNoID}
	}
	msg := &Message{Chat: chat, Path: path}
	msg.ID = f.int("id")
	typ := f.str("type")
	if f.err != nil {
		return nil, f.err
	}
	msg.Key = "tg:" + strconv.FormatInt(chat.ID, 10) + ":" + strconv.FormatInt(msg.ID, 10)
	msg.Time = f.time("date", loc)
	msg.Edited = f.time("edited", loc)

	switch typ {
	case "message":
		if msg.Time.IsZero() && f.err == nil {
			f.fail("date", fmt.Errorf("a message must have a \"date\" or \"date_unixtime\""))
		}
		decodeOrdinary(f, msg, path, loc)
	case "service":
		if msg.Time.IsZero() && f.err == nil {
			f.fail("date", fmt.Errorf("a message must have a \"date\" or \"date_unixtime\""))
		}
		decodeService(f, msg, path)
	case "":
		return nil, &fieldError{field: ".type", err: fmt.Errorf("a message must have a \"type\" (\"message\" or \"service\")")}
	default:
		// A new kind of entry: keep everything, including its type.
		msg.Unsupported = append(msg.Unsupported, Unsupported{Path: path + ".type", Raw: json.RawMessage(strconv.Quote(typ))})
	}
	if f.err != nil {
		return nil, f.err
	}
	msg.Unsupported = append(msg.Unsupported, f.rest(path)...)
	return msg, nil
}

func decodeOrdinary(f *fields, msg *Message, path string, loc *time.Location) {
	msg.Sender = f.peer("from", "from_id")
	msg.Author = f.str("author")
	msg.ViaBot = f.str("via_bot")
	decodeText(f, msg, path)
	msg.ReplyTo = f.int("reply_to_message_id")
	if raw := f.str("reply_to_peer_id"); raw != "" {
		msg.ReplyToPeer.Raw = raw
		msg.ReplyToPeer.Kind, msg.ReplyToPeer.ID = splitPeer(raw)
	}
	if f.has("forwarded_from") || f.has("forwarded_from_id") || f.has("saved_from") {
		fw := &Forward{From: f.str("forwarded_from"), SavedFrom: f.str("saved_from")}
		if raw := f.str("forwarded_from_id"); raw != "" {
			fw.FromID = Peer{Raw: raw, Name: fw.From}
			fw.FromID.Kind, fw.FromID.ID = splitPeer(raw)
		}
		msg.Forwarded = fw
	}
	msg.Media = decodeMedia(f, msg, path)
	msg.Location = decodeLocation(f)
	msg.Contact = decodeContact(f)
	msg.Poll = decodePoll(f)
	msg.Reactions = decodeReactions(f, loc)
}

func decodeService(f *fields, msg *Message, path string) {
	msg.Sender = f.peer("actor", "actor_id")
	s := &Service{Action: f.str("action")}
	s.Title = f.str("title")
	if raw, ok := f.take("members"); ok {
		var names []*string
		if err := json.Unmarshal(raw, &names); err != nil {
			f.fail("members", fmt.Errorf("want an array of names, found %s", kindOf(raw)))
		}
		for _, n := range names {
			if n == nil {
				s.Members = append(s.Members, "")
			} else {
				s.Members = append(s.Members, *n)
			}
		}
	}
	s.MessageID = f.int("message_id")
	s.Inviter = f.str("inviter")
	s.Duration = time.Duration(f.int("duration_seconds")) * time.Second
	s.DiscardReason = f.str("discard_reason")
	if f.has("photo") {
		p := f.str("photo")
		media := &Media{Kind: MediaPhoto}
		setMediaPath(f, "photo", p, &media.Path, &media.Missing)
		media.Size = f.int("photo_file_size")
		media.Width = int(f.int("width"))
		media.Height = int(f.int("height"))
		s.Photo = media
	}
	msg.Service = s
	// Service messages carry an (empty) text in recent exports.
	decodeText(f, msg, path)
}

// missingPrefix starts Telegram's notes about files left out of an export.
const missingPrefix = "(File "

// setMediaPath checks that a media path stays inside the export directory
// and splits Telegram's "(File not included...)" notes from real paths.
func setMediaPath(f *fields, k, p string, path, missing *string) {
	if p == "" {
		return
	}
	if strings.HasPrefix(p, missingPrefix) || strings.HasPrefix(p, "(") {
		*missing = p
		return
	}
	if err := checkRelPath(p); err != nil {
		f.fail(k, err)
		return
	}
	*path = p
}

func checkRelPath(p string) error {
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, `\`) || (len(p) > 1 && p[1] == ':') {
		return fmt.Errorf("media path %q is absolute; it must be relative to the export folder", p)
	}
	for _, seg := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' }) {
		if seg == ".." {
			return fmt.Errorf("media path %q leaves the export folder", p)
		}
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("media path %q contains a NUL byte", p)
	}
	return nil
}

// mediaKinds maps the export's media_type to a MediaKind.
var mediaKinds = map[string]MediaKind{
	"sticker":       MediaSticker,
	"video_file":    MediaVideo,
	"voice_message": MediaVoice,
	"audio_file":    MediaAudio,
	"animation":     MediaAnimation,
	"video_message": MediaVideoMessage,
}

func decodeMedia(f *fields, msg *Message, path string) *Media {
	var media *Media
	switch {
	case f.has("photo"):
		media = &Media{Kind: MediaPhoto}
		setMediaPath(f, "photo", f.str("photo"), &media.Path, &media.Missing)
		media.Size = f.int("photo_file_size")
	case f.has("file") || f.has("media_type"):
		media = &Media{Kind: MediaFile}
		if raw, ok := f.m["media_type"]; ok {
			mt := f.str("media_type")
			if k, ok := mediaKinds[mt]; ok {
				media.Kind = k
			} else if mt != "" {
				msg.Unsupported = append(msg.Unsupported, Unsupported{Path: path + ".media_type", Raw: raw})
			}
		}
		setMediaPath(f, "file", f.str("file"), &media.Path, &media.Missing)
		media.FileName = f.str("file_name")
		media.Size = f.int("file_size")
		media.MIME = f.str("mime_type")
		media.StickerEmoji = f.str("sticker_emoji")
		media.Performer = f.str("performer")
		media.Title = f.str("title")
	default:
		return nil
	}
	if f.has("thumbnail") {
		var missing string
		setMediaPath(f, "thumbnail", f.str("thumbnail"), &media.Thumbnail, &missing)
		f.take("thumbnail_file_size")
	}
	media.Duration = time.Duration(f.int("duration_seconds")) * time.Second
	media.Width = int(f.int("width"))
	media.Height = int(f.int("height"))
	media.Spoiler = f.bool("media_spoiler")
	if media.MIME == "" && media.Kind == MediaPhoto {
		media.MIME = "image/jpeg" // Telegram Desktop exports photos as JPEG
	}
	return media
}

func decodeLocation(f *fields) *Location {
	raw, ok := f.take("location_information")
	if !ok {
		return nil
	}
	sub := &fields{pre: f.pre + ".location_information"}
	if err := json.Unmarshal(raw, &sub.m); err != nil || sub.m == nil {
		f.fail("location_information", fmt.Errorf("want an object, found %s", kindOf(raw)))
		return nil
	}
	loc := &Location{Latitude: sub.float("latitude"), Longitude: sub.float("longitude")}
	if sub.err != nil && f.err == nil {
		f.err = sub.err
	}
	keepRest(f, "location_information", sub)
	loc.LivePeriod = time.Duration(f.int("live_location_period_seconds")) * time.Second
	loc.Place = f.str("place_name")
	loc.Address = f.str("address")
	return loc
}

func decodeContact(f *fields) *Contact {
	raw, ok := f.take("contact_information")
	if !ok {
		return nil
	}
	sub := &fields{pre: f.pre + ".contact_information"}
	if err := json.Unmarshal(raw, &sub.m); err != nil || sub.m == nil {
		f.fail("contact_information", fmt.Errorf("want an object, found %s", kindOf(raw)))
		return nil
	}
	c := &Contact{FirstName: sub.str("first_name"), LastName: sub.str("last_name"), PhoneRaw: sub.str("phone_number")}
	if sub.err != nil && f.err == nil {
		f.err = sub.err
	}
	keepRest(f, "contact_information", sub)
	c.Phone = NormalizePhone(c.PhoneRaw)
	if f.has("contact_vcard") {
		var missing string
		setMediaPath(f, "contact_vcard", f.str("contact_vcard"), &c.VCard, &missing)
		f.take("contact_vcard_file_size")
	}
	return c
}

func decodePoll(f *fields) *Poll {
	raw, ok := f.take("poll")
	if !ok {
		return nil
	}
	pf := &fields{pre: f.pre + ".poll"}
	if err := json.Unmarshal(raw, &pf.m); err != nil || pf.m == nil || !pf.has("question") {
		f.fail("poll", fmt.Errorf("want an object with \"question\" and \"answers\", found %s", kindOf(raw)))
		return nil
	}
	poll := &Poll{Question: pf.str("question"), Closed: pf.bool("closed"), TotalVoters: int(pf.int("total_voters"))}
	if araw, ok := pf.take("answers"); ok {
		var answers []json.RawMessage
		if err := json.Unmarshal(araw, &answers); err != nil {
			pf.fail("answers", fmt.Errorf("want an array, found %s", kindOf(araw)))
		}
		for i, a := range answers {
			af := &fields{pre: pf.pre + ".answers" + index(i)}
			if err := json.Unmarshal(a, &af.m); err != nil || af.m == nil {
				pf.fail("answers"+index(i), fmt.Errorf("want an object, found %s", kindOf(a)))
				break
			}
			poll.Answers = append(poll.Answers, PollAnswer{Text: af.str("text"), Voters: int(af.int("voters")), Chosen: af.bool("chosen")})
			if af.err != nil && pf.err == nil {
				pf.err = af.err
			}
			for k, v := range af.m {
				pf.m["answers"+index(i)+"."+k] = v
			}
		}
	}
	if pf.err != nil {
		if f.err == nil {
			f.err = pf.err
		}
		return nil
	}
	keepRest(f, "poll", pf)
	return poll
}

func decodeReactions(f *fields, loc *time.Location) []Reaction {
	raw, ok := f.take("reactions")
	if !ok {
		return nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		f.fail("reactions", fmt.Errorf("want an array of reactions, found %s", kindOf(raw)))
		return nil
	}
	out := make([]Reaction, 0, len(items))
	for i, item := range items {
		rf := &fields{pre: f.pre + ".reactions" + index(i)}
		if err := json.Unmarshal(item, &rf.m); err != nil || rf.m == nil {
			f.fail("reactions"+index(i), fmt.Errorf("want a reaction object, found %s", kindOf(item)))
			return nil
		}
		r := Reaction{Type: rf.str("type"), Emoji: rf.str("emoji"), Count: int(rf.int("count"))}
		if raw, ok := rf.take("document_id"); ok {
			if n, err := rawInt(raw); err == nil {
				r.DocumentID = strconv.FormatInt(n, 10)
			} else {
				var s string
				_ = json.Unmarshal(raw, &s)
				r.DocumentID = s
			}
		}
		if raw, ok := rf.take("recent"); ok {
			var recent []map[string]json.RawMessage
			if err := json.Unmarshal(raw, &recent); err != nil {
				rf.fail("recent", fmt.Errorf("want an array, found %s", kindOf(raw)))
			}
			for j, m := range recent {
				pf := &fields{m: m, pre: rf.pre + ".recent" + index(j), numericKind: PeerUser}
				r.Recent = append(r.Recent, Reactor{Peer: pf.peer("from", "from_id"), Time: pf.time("date", loc)})
				if pf.err != nil && rf.err == nil {
					rf.err = pf.err
				}
				for k, v := range pf.m {
					f.m["reactions"+index(i)+".recent"+index(j)+"."+k] = v
				}
			}
		}
		if rf.err != nil {
			if f.err == nil {
				f.err = rf.err
			}
			return nil
		}
		for k, v := range rf.m {
			f.m["reactions"+index(i)+"."+k] = v
		}
		out = append(out, r)
	}
	return out
}

// keepRest puts the unknown fields of a nested object back into the
// message's fields under a dotted name, so that they end up unsupported.
func keepRest(f *fields, parent string, sub *fields) {
	for k, v := range sub.m {
		f.m[parent+"."+k] = v
	}
}
