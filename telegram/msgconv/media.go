package msgconv

import (
	"fmt"
	"html"
	"strconv"
	"strings"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/event"
)

// MediaDescription says how a Telegram media attachment is shown in Matrix.
type MediaDescription struct {
	EventType event.Type
	MsgType   event.MessageType
	FileName  string
	MimeType  string
	Width     int
	Height    int
	// DurationMS is the length of audio and video.
	DurationMS int
	// Extra is merged into the event content (voice, GIF and poll markers).
	Extra map[string]any
	// Content is the whole content of media that is not a file (locations, contacts, polls).
	Content *event.MessageEventContent
	// KeepCaption appends the message text to Content.
	KeepCaption bool
}

// FileContent is the content of a file event, without its URL.
func (d MediaDescription) FileContent(size int) *event.MessageEventContent {
	c := &event.MessageEventContent{
		MsgType: d.MsgType,
		Body:    d.FileName,
		Info: &event.FileInfo{
			MimeType: d.MimeType, Size: size, Width: d.Width, Height: d.Height, Duration: d.DurationMS,
		},
	}
	if d.EventType == event.EventSticker {
		c.MsgType = ""
	}
	return c
}

// DescribeDocument classifies a Telegram document by its attributes: sticker, GIF, round or
// plain video, voice note (with duration and waveform), audio, or a plain file.
func DescribeDocument(doc *tg.Document, round, voice bool) MediaDescription {
	d := MediaDescription{EventType: event.EventMessage, MsgType: event.MsgFile, MimeType: doc.MimeType, FileName: "file"}
	if d.MimeType == "" {
		d.MimeType = "application/octet-stream"
	}
	var isSticker, isGIF, isVideo, isAudio, isVoice bool
	var waveform []byte
	var stickerAlt string
	for _, a := range doc.Attributes {
		switch a := a.(type) {
		case *tg.DocumentAttributeFilename:
			d.FileName = a.FileName
		case *tg.DocumentAttributeImageSize:
			d.Width, d.Height = a.W, a.H
		case *tg.DocumentAttributeSticker:
			isSticker, stickerAlt = true, a.Alt
		case *tg.DocumentAttributeAnimated:
			isGIF = true
		case *tg.DocumentAttributeVideo:
			isVideo = true
			round = round || a.RoundMessage
			d.Width, d.Height, d.DurationMS = a.W, a.H, int(a.Duration*1000)
		case *tg.DocumentAttributeAudio:
			isAudio = true
			isVoice = a.Voice
			d.DurationMS = a.Duration * 1000
			waveform = a.Waveform
			if d.FileName == "file" && (a.Performer != "" || a.Title != "") {
				d.FileName = strings.Trim(a.Performer+" - "+a.Title, " -")
			}
		}
	}
	isVoice = isVoice || voice
	switch {
	case isSticker && d.MimeType == "application/x-tgsticker":
		// Animated (Lottie) stickers have no Matrix form: send the file, named after the emoji.
		d.MsgType, d.FileName = event.MsgFile, "sticker "+stickerAlt+".tgs"
	case isSticker && isVideo:
		d.MsgType, d.FileName = event.MsgVideo, "sticker "+stickerAlt+".webm"
		d.Extra = map[string]any{"info": map[string]any{"fi.mau.loop": true, "fi.mau.autoplay": true, "fi.mau.hide_controls": true, "fi.mau.no_audio": true}}
	case isSticker:
		d.EventType, d.FileName = event.EventSticker, "sticker "+stickerAlt
		if d.Width == 0 {
			d.Width, d.Height = 256, 256
		}
	case isGIF && isVideo:
		d.MsgType = event.MsgVideo
		d.Extra = map[string]any{"info": map[string]any{"fi.mau.gif": true, "fi.mau.loop": true, "fi.mau.autoplay": true, "fi.mau.hide_controls": true, "fi.mau.no_audio": true}}
		if d.FileName == "file" {
			d.FileName = "animation.mp4"
		}
	case isVideo:
		d.MsgType = event.MsgVideo
		if d.FileName == "file" {
			d.FileName = "video.mp4"
			if round {
				d.FileName = "round video.mp4"
			}
		}
	case isAudio && isVoice:
		d.MsgType = event.MsgAudio
		if d.FileName == "file" {
			d.FileName = "voice message.ogg"
		}
		d.Extra = map[string]any{
			"org.matrix.msc3245.voice": map[string]any{},
			"org.matrix.msc1767.audio": map[string]any{"duration": d.DurationMS, "waveform": DecodeWaveform(waveform)},
		}
	case isAudio:
		d.MsgType = event.MsgAudio
		if d.FileName == "file" {
			d.FileName = "audio"
		}
	case strings.HasPrefix(d.MimeType, "image/"):
		d.MsgType = event.MsgImage
	}
	return d
}

// DecodeWaveform unpacks Telegram's 5-bit waveform into MSC1767 values (0–1024).
func DecodeWaveform(packed []byte) []int {
	n := len(packed) * 8 / 5
	out := make([]int, 0, n)
	for i := 0; i < n; i++ {
		bit := i * 5
		b, shift := bit/8, bit%8
		v := int(packed[b]) >> shift
		if b+1 < len(packed) {
			v |= int(packed[b+1]) << (8 - shift)
		}
		out = append(out, (v&31)*1024/31)
	}
	return out
}

// DescribeMedia renders media that is not a file: locations, venues, live locations, contacts,
// polls (MSC3381 with a text fallback), dice and games. Web page previews return nil (the text
// already carries the link). Unknown media gets a notice rather than silence.
func DescribeMedia(media tg.MessageMediaClass) *MediaDescription {
	text := func(body string) *MediaDescription {
		return &MediaDescription{EventType: event.EventMessage, KeepCaption: true,
			Content: &event.MessageEventContent{MsgType: event.MsgText, Body: body}}
	}
	switch m := media.(type) {
	case nil, *tg.MessageMediaEmpty, *tg.MessageMediaWebPage:
		return nil
	case *tg.MessageMediaGeo:
		return location(m.Geo, "Location", "")
	case *tg.MessageMediaVenue:
		return location(m.Geo, m.Title, m.Address)
	case *tg.MessageMediaGeoLive:
		return DescribeLiveLocation(m, 0, 0)
	case *tg.MessageMediaContact:
		name := strings.TrimSpace(m.FirstName + " " + m.LastName)
		body := fmt.Sprintf("👤 Contact: %s", name)
		if m.PhoneNumber != "" {
			body += " +" + strings.TrimPrefix(m.PhoneNumber, "+")
		}
		d := text(body)
		if m.Vcard != "" {
			d.Extra = map[string]any{"fi.passerelle.vcard": m.Vcard}
		}
		return d
	case *tg.MessageMediaDice:
		return text(fmt.Sprintf("%s %d", m.Emoticon, m.Value))
	case *tg.MessageMediaGame:
		return text("🎮 Game: " + m.Game.Title)
	case *tg.MessageMediaPoll:
		return poll(m)
	case *tg.MessageMediaUnsupported:
		return &MediaDescription{EventType: event.EventMessage, KeepCaption: true,
			Content: &event.MessageEventContent{MsgType: event.MsgNotice, Body: "This message is not supported by your Telegram version; open Telegram to see it."}}
	default:
		return &MediaDescription{EventType: event.EventMessage, KeepCaption: true,
			Content: &event.MessageEventContent{MsgType: event.MsgNotice, Body: fmt.Sprintf("An attachment (%s) the bridge cannot show yet; open Telegram to see it.", mediaName(media))}}
	}
}

// DescribeLiveLocation renders a live location sent at sentAt (Unix seconds) as it stands at
// at: Telegram moves it by editing the message, and the bridge turns each edit into an edit of
// the Matrix location event, so the last one shows where it ended. Once date+period has passed
// (Telegram cuts the period when the sender stops sharing) it says the sharing ended. A zero
// sentAt means the message date is unknown: the location is shown as live.
func DescribeLiveLocation(m *tg.MessageMediaGeoLive, sentAt, at int) *MediaDescription {
	ended := sentAt > 0 && m.Period != foreverPeriod && sentAt+m.Period <= at
	title, detail := "Live location", fmt.Sprintf("shared for %s", durationText(m.Period))
	switch {
	case ended:
		title, detail = "Live location ended", "last position"
	case m.Period == foreverPeriod:
		detail = "shared until stopped"
	}
	d := location(m.Geo, title, detail)
	if d.Content.MsgType == event.MsgLocation {
		d.Extra = map[string]any{
			"org.matrix.msc3488.asset":    map[string]any{"type": "m.self"},
			"org.matrix.msc3488.location": map[string]any{"uri": d.Content.GeoURI, "description": title},
		}
	}
	return d
}

// foreverPeriod is the period of a live location shared until stopped.
const foreverPeriod = 0x7FFFFFFF

func mediaName(m tg.MessageMediaClass) string {
	name := strings.TrimPrefix(fmt.Sprintf("%T", m), "*tg.MessageMedia")
	return strings.ToLower(name)
}

func durationText(seconds int) string {
	switch {
	case seconds >= foreverPeriod:
		return "until stopped"
	case seconds >= 3600:
		return fmt.Sprintf("%d h", seconds/3600)
	default:
		return fmt.Sprintf("%d min", seconds/60)
	}
}

func location(geo tg.GeoPointClass, title, address string) *MediaDescription {
	p, ok := geo.(*tg.GeoPoint)
	if !ok {
		return &MediaDescription{EventType: event.EventMessage, Content: &event.MessageEventContent{MsgType: event.MsgNotice, Body: title + " (no coordinates)"}}
	}
	uri := "geo:" + strconv.FormatFloat(p.Lat, 'f', 6, 64) + "," + strconv.FormatFloat(p.Long, 'f', 6, 64)
	body := fmt.Sprintf("%s: %s", title, uri)
	if address != "" {
		body = fmt.Sprintf("%s, %s: %s", title, address, uri)
	}
	return &MediaDescription{EventType: event.EventMessage, Content: &event.MessageEventContent{MsgType: event.MsgLocation, Body: body, GeoURI: uri}}
}

func pollText(t tg.TextWithEntities) string { return t.Text }

func poll(m *tg.MessageMediaPoll) *MediaDescription {
	question := pollText(m.Poll.Question)
	var body strings.Builder
	var htmlBody strings.Builder
	body.WriteString("📊 Poll: " + question)
	htmlBody.WriteString("<p>📊 <strong>Poll: " + html.EscapeString(question) + "</strong></p><ol>")
	answers := make([]map[string]any, 0, len(m.Poll.Answers))
	for i, a := range m.Poll.Answers {
		text := pollText(a.GetText())
		fmt.Fprintf(&body, "\n%d. %s", i+1, text)
		htmlBody.WriteString("<li>" + html.EscapeString(text) + "</li>")
		option := strconv.Itoa(i)
		if pa, ok := a.(*tg.PollAnswer); ok {
			option = string(pa.Option)
		}
		answers = append(answers, map[string]any{"id": option, "org.matrix.msc1767.text": text})
	}
	htmlBody.WriteString("</ol>")
	kind := "org.matrix.msc3381.poll.disclosed"
	if !m.Poll.PublicVoters {
		kind = "org.matrix.msc3381.poll.undisclosed"
	}
	maxSel := 1
	if m.Poll.MultipleChoice {
		maxSel = len(m.Poll.Answers)
	}
	return &MediaDescription{
		EventType: event.EventUnstablePollStart,
		Content:   &event.MessageEventContent{MsgType: event.MsgText, Body: body.String(), Format: event.FormatHTML, FormattedBody: htmlBody.String()},
		Extra: map[string]any{
			"org.matrix.msc1767.text": body.String(),
			"org.matrix.msc3381.poll.start": map[string]any{
				"kind":                    kind,
				"max_selections":          maxSel,
				"question":                map[string]any{"org.matrix.msc1767.text": question},
				"answers":                 answers,
				"org.matrix.msc1767.text": question,
			},
		},
	}
}
