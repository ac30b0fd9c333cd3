package importer

import (
	"fmt"
	"html"
	"mime"
	"path"
	"strconv"
	"strings"

	"maunium.net/go/mautrix/event"
)

// Converting an item is split in two: textParts builds everything that does not need the
// homeserver (body, HTML, location, poll), and the engine adds uploaded media. That keeps the
// wording table-testable without a homeserver.

// editedMarker is appended to edited messages: exports hold only the final text, so the edit
// itself cannot be replayed; the marker tells readers the text is not the original.
const editedMarker = "(edited)"

// renderText returns the plain body and HTML (always set) of an item's text with its
// forward header, edit marker and extra lines.
func renderText(it *Item) (body, htmlBody string) {
	var b, h []string
	if it.Forwarded != "" {
		b = append(b, "Forwarded from "+it.Forwarded+":")
		h = append(h, "<em>Forwarded from "+html.EscapeString(it.Forwarded)+":</em><br>")
	}
	text := it.Text
	textHTML := it.HTML
	if textHTML == "" {
		textHTML = strings.ReplaceAll(html.EscapeString(text), "\n", "<br>")
	}
	if it.Deleted && text == "" {
		text, textHTML = "This message was deleted", "<em>This message was deleted</em>"
	}
	if text != "" {
		if it.Forwarded != "" {
			textHTML = "<blockquote>" + textHTML + "</blockquote>"
		}
		b = append(b, text)
		h = append(h, textHTML)
	}
	if it.Edited {
		marker := editedMarker
		if !it.EditedAt.IsZero() {
			marker = fmt.Sprintf("(edited %s)", it.EditedAt.UTC().Format("2006-01-02 15:04 MST"))
		}
		if len(b) > 0 {
			b[len(b)-1] += " " + marker
			h[len(h)-1] += " <sup><em>" + html.EscapeString(marker) + "</em></sup>"
		} else {
			b, h = append(b, marker), append(h, "<em>"+html.EscapeString(marker)+"</em>")
		}
	}
	if it.Extra != "" {
		b = append(b, it.Extra)
		h = append(h, "<small>"+strings.ReplaceAll(html.EscapeString(it.Extra), "\n", "<br>")+"</small>")
	}
	return strings.Join(b, "\n"), joinHTML(h)
}

func joinHTML(parts []string) string {
	var sb strings.Builder
	for i, p := range parts {
		if i > 0 && !strings.HasSuffix(parts[i-1], "<br>") {
			sb.WriteString("<br>")
		}
		sb.WriteString(p)
	}
	return sb.String()
}

// textMessage builds the m.room.message of an item without media. It returns nil when the item
// carries media (the engine builds that message after uploading).
func textMessage(it *Item) (event.Type, *event.Content) {
	body, htmlBody := renderText(it)
	switch {
	case it.Location != nil && !it.Location.Live:
		l := it.Location
		desc := "Location"
		if l.Description != "" {
			desc += ": " + l.Description
		}
		lat, lon := strconv.FormatFloat(l.Latitude, 'f', -1, 64), strconv.FormatFloat(l.Longitude, 'f', -1, 64)
		osm := "https://www.openstreetmap.org/?mlat=" + lat + "&mlon=" + lon
		locBody := desc + " " + osm
		if body != "" {
			locBody = body + "\n" + locBody
		}
		return event.EventMessage, &event.Content{Parsed: &event.MessageEventContent{
			MsgType: event.MsgLocation, Body: locBody, GeoURI: "geo:" + lat + "," + lon,
		}}
	case it.Location != nil:
		body = strings.TrimSpace(body + "\nShared their live location (not part of the export)")
		htmlBody = joinHTML(nonEmpty(htmlBody, "<em>Shared their live location (not part of the export)</em>"))
	case it.Contact != nil:
		line := "Contact: " + it.Contact.Name
		if len(it.Contact.Phones) > 0 {
			line += " (" + strings.Join(it.Contact.Phones, ", ") + ")"
		}
		body = strings.TrimSpace(body + "\n" + line)
		htmlBody = joinHTML(nonEmpty(htmlBody, html.EscapeString(line)))
	case it.Poll != nil:
		return pollMessage(it, body)
	}
	msgType := event.MsgText
	if it.Service {
		msgType = event.MsgNotice
	}
	if strings.TrimSpace(body) == "" {
		body, htmlBody, msgType = "[empty message]", "<em>[empty message]</em>", event.MsgNotice
	}
	content := &event.MessageEventContent{MsgType: msgType, Body: body}
	if htmlBody != html.EscapeString(body) && htmlBody != strings.ReplaceAll(html.EscapeString(body), "\n", "<br>") {
		content.Format, content.FormattedBody = event.FormatHTML, htmlBody
	}
	return event.EventMessage, &event.Content{Parsed: content}
}

// pollText is the readable form of a poll with its results at export time.
func pollText(p *Poll) string {
	var sb strings.Builder
	sb.WriteString("Poll: " + p.Question)
	if p.Closed {
		sb.WriteString(" (closed)")
	}
	for _, a := range p.Answers {
		sb.WriteString("\n• " + a.Text)
		if a.Votes >= 0 {
			fmt.Fprintf(&sb, " — %d vote", a.Votes)
			if a.Votes != 1 {
				sb.WriteString("s")
			}
		}
	}
	return sb.String()
}

// pollMessage sends an open poll as an MSC3381 poll start (with the results as its text
// fallback), and a closed one as plain text: replaying a closed poll as a votable one would
// mislead, and exports have counts, not the individual votes MSC3381 responses need.
func pollMessage(it *Item, prefix string) (event.Type, *event.Content) {
	text := pollText(it.Poll)
	if prefix != "" {
		text = prefix + "\n" + text
	}
	if it.Poll.Closed || len(it.Poll.Answers) < 2 {
		return event.EventMessage, &event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: text}}
	}
	start := &event.PollStartEventContent{PollStart: event.PollStart{
		Kind:          "org.matrix.msc3381.poll.disclosed",
		MaxSelections: 1,
		Question:      event.MSC1767Message{Text: it.Poll.Question},
	}}
	for i, a := range it.Poll.Answers {
		start.PollStart.Answers = append(start.PollStart.Answers, event.PollOption{
			ID: strconv.Itoa(i), MSC1767Message: event.MSC1767Message{Text: a.Text},
		})
	}
	return event.EventUnstablePollStart, &event.Content{Parsed: start, Raw: map[string]any{
		"org.matrix.msc1767.text": text,
		"body":                    text,
	}}
}

// mediaMessage builds the message of an uploaded attachment; the caption is the item's text.
func mediaMessage(it *Item, md *Media, size int64, mimeType string) (event.Type, *event.MessageEventContent) {
	name := mediaFileName(md, mimeType)
	caption, captionHTML := renderText(it)
	content := &event.MessageEventContent{
		Body:     name,
		FileName: name,
		Info:     &event.FileInfo{MimeType: mimeType, Size: int(size), Width: md.Width, Height: md.Height, Duration: int(md.Duration.Milliseconds())},
	}
	if caption != "" {
		content.Body = caption
		if captionHTML != html.EscapeString(caption) {
			content.Format, content.FormattedBody = event.FormatHTML, captionHTML
		}
	}
	evtType := event.EventMessage
	switch md.Kind {
	case MediaImage:
		content.MsgType = event.MsgImage
	case MediaVideo:
		content.MsgType = event.MsgVideo
	case MediaAudio:
		content.MsgType = event.MsgAudio
	case MediaVoice:
		content.MsgType = event.MsgAudio
		content.MSC3245Voice = &event.MSC3245Voice{}
		content.MSC1767Audio = &event.MSC1767Audio{Duration: int(md.Duration.Milliseconds())}
	case MediaSticker:
		if strings.HasPrefix(mimeType, "image/") {
			evtType = event.EventSticker
			content.Body = name
			content.MsgType = ""
		} else {
			content.MsgType = event.MsgFile
		}
	default:
		content.MsgType = event.MsgFile
	}
	return evtType, content
}

// mediaFileName is the name shown for an attachment: the original name when known, else the
// export's file name, else a generic name with the right extension.
func mediaFileName(md *Media, mimeType string) string {
	name := md.FileName
	if name == "" || !strings.Contains(name, ".") && md.Path != "" {
		if md.Path != "" {
			name = path.Base(strings.ReplaceAll(md.Path, `\`, "/"))
		}
	}
	if name == "" {
		name = string(md.Kind)
		if exts, _ := mime.ExtensionsByType(mimeType); len(exts) > 0 {
			name += exts[0]
		}
	}
	return name
}

// missingMediaNotice is sent in place of an attachment that cannot be imported.
func missingMediaNotice(it *Item, md *Media, reason string) *event.Content {
	name := md.FileName
	if name == "" && md.Path != "" {
		name = path.Base(md.Path)
	}
	if name == "" {
		name = string(md.Kind)
	}
	line := fmt.Sprintf("[%s not imported: %s]", name, reason)
	body, htmlBody := renderText(it)
	return &event.Content{Parsed: &event.MessageEventContent{
		MsgType:       event.MsgNotice,
		Body:          strings.TrimSpace(body + "\n" + line),
		Format:        event.FormatHTML,
		FormattedBody: joinHTML(nonEmpty(htmlBody, "<em>"+html.EscapeString(line)+"</em>")),
	}}
}

// matrixToRoom is a matrix.to link to a room. Room IDs ("!opaque:server") need no escaping
// in the fragment.
func matrixToRoom(room string) string {
	return "https://matrix.to/#/" + room
}

// humanSize writes a byte count for people.
func humanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
