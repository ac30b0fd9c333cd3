package importer

import (
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"
)

func TestTextMessage(t *testing.T) {
	cases := []struct {
		name     string
		item     Item
		evtType  event.Type
		msgType  event.MessageType
		body     string
		html     string // substring of formatted_body; "" means no formatted body
		geo      string
		pollText string
	}{
		{name: "plain", item: Item{Text: "Bonjour"}, evtType: event.EventMessage, msgType: event.MsgText, body: "Bonjour"},
		{name: "plain with html specials stays plain", item: Item{Text: "a < b & c"}, evtType: event.EventMessage, msgType: event.MsgText, body: "a < b & c"},
		{name: "formatted", item: Item{Text: "gras", HTML: "<strong>gras</strong>"}, evtType: event.EventMessage, msgType: event.MsgText, body: "gras", html: "<strong>gras</strong>"},
		{name: "service is a notice", item: Item{Text: "Anna added Ben", Service: true}, evtType: event.EventMessage, msgType: event.MsgNotice, body: "Anna added Ben"},
		{name: "edited with time", item: Item{Text: "final", Edited: true, EditedAt: time.Date(2024, 1, 2, 10, 30, 0, 0, time.UTC)},
			evtType: event.EventMessage, msgType: event.MsgText, body: "final (edited 2024-01-02 10:30 UTC)", html: "<sup><em>(edited 2024-01-02 10:30 UTC)</em></sup>"},
		{name: "edited without time", item: Item{Text: "final", Edited: true}, evtType: event.EventMessage, msgType: event.MsgText, body: "final (edited)", html: "final <sup><em>(edited)</em></sup>"},
		{name: "deleted", item: Item{Deleted: true}, evtType: event.EventMessage, msgType: event.MsgText, body: "This message was deleted", html: "<em>This message was deleted</em>"},
		{name: "forwarded", item: Item{Text: "news", Forwarded: "Canal Info"}, evtType: event.EventMessage, msgType: event.MsgText,
			body: "Forwarded from Canal Info:\nnews", html: "<blockquote>news</blockquote>"},
		{name: "extra line", item: Item{Text: "post", Extra: "Reactions: 👍 3"}, evtType: event.EventMessage, msgType: event.MsgText, body: "post\nReactions: 👍 3", html: "<small>Reactions: 👍 3</small>"},
		{name: "location", item: Item{Location: &Location{Latitude: 45.764043, Longitude: 4.835659, Description: "Place Bellecour"}},
			evtType: event.EventMessage, msgType: event.MsgLocation, body: "Location: Place Bellecour https://www.openstreetmap.org/?mlat=45.764043&mlon=4.835659", geo: "geo:45.764043,4.835659"},
		{name: "live location", item: Item{Location: &Location{Live: true}}, evtType: event.EventMessage, msgType: event.MsgText, body: "Shared their live location (not part of the export)", html: "<em>Shared their live location"},
		{name: "contact", item: Item{Contact: &Contact{Name: "Paul Durand", Phones: []string{"+33612345678"}}}, evtType: event.EventMessage, msgType: event.MsgText, body: "Contact: Paul Durand (+33612345678)"},
		{name: "open poll is MSC3381", item: Item{Poll: &Poll{Question: "Quel jour ?", Answers: []PollAnswer{{"Samedi", 2}, {"Dimanche", 1}}}},
			evtType: event.EventUnstablePollStart, pollText: "Poll: Quel jour ?\n• Samedi — 2 votes\n• Dimanche — 1 vote"},
		{name: "empty", item: Item{}, evtType: event.EventMessage, msgType: event.MsgNotice, body: "[empty message]", html: "<em>[empty message]</em>"},
		{name: "closed poll is text", item: Item{Poll: &Poll{Question: "Q", Closed: true, Answers: []PollAnswer{{"A", 0}, {"B", 3}}}},
			evtType: event.EventMessage, msgType: event.MsgText, body: "Poll: Q (closed)\n• A — 0 votes\n• B — 3 votes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			evtType, content := textMessage(&tc.item)
			if evtType != tc.evtType {
				t.Fatalf("type %s, want %s", evtType.Type, tc.evtType.Type)
			}
			if tc.pollText != "" {
				poll := content.Parsed.(*event.PollStartEventContent)
				if content.Raw["body"] != tc.pollText || content.Raw["org.matrix.msc1767.text"] != tc.pollText {
					t.Errorf("poll fallback = %q", content.Raw["body"])
				}
				if poll.PollStart.Question.Text != tc.item.Poll.Question || len(poll.PollStart.Answers) != len(tc.item.Poll.Answers) || poll.PollStart.Answers[1].Text != tc.item.Poll.Answers[1].Text {
					t.Errorf("poll start = %+v", poll.PollStart)
				}
				return
			}
			msg := content.Parsed.(*event.MessageEventContent)
			if msg.MsgType != tc.msgType || msg.Body != tc.body {
				t.Errorf("got %s %q, want %s %q", msg.MsgType, msg.Body, tc.msgType, tc.body)
			}
			if tc.html == "" && msg.FormattedBody != "" {
				t.Errorf("unexpected formatted_body %q", msg.FormattedBody)
			}
			if tc.html != "" && (!strings.Contains(msg.FormattedBody, tc.html) || msg.Format != event.FormatHTML) {
				t.Errorf("formatted_body %q does not contain %q", msg.FormattedBody, tc.html)
			}
			if msg.GeoURI != tc.geo {
				t.Errorf("geo_uri %q, want %q", msg.GeoURI, tc.geo)
			}
		})
	}
}

func TestMediaMessage(t *testing.T) {
	cases := []struct {
		name    string
		media   Media
		mime    string
		caption string
		evtType event.Type
		msgType event.MessageType
		file    string
		voice   bool
	}{
		{"photo with caption", Media{Kind: MediaImage, Path: "photos/photo_1.jpg", Width: 4, Height: 3}, "image/jpeg", "Le vélo", event.EventMessage, event.MsgImage, "photo_1.jpg", false},
		{"document keeps its name", Media{Kind: MediaFile, Path: "files/x.pdf", FileName: "devis.pdf"}, "application/pdf", "", event.EventMessage, event.MsgFile, "devis.pdf", false},
		{"voice", Media{Kind: MediaVoice, Path: "voice_messages/a.ogg", Duration: 3 * time.Second}, "audio/ogg", "", event.EventMessage, event.MsgAudio, "a.ogg", true},
		{"webp sticker", Media{Kind: MediaSticker, Path: "stickers/s.webp", FileName: "😀"}, "image/webp", "", event.EventSticker, "", "s.webp", false},
		{"animated sticker is a file", Media{Kind: MediaSticker, Path: "stickers/s.tgs"}, "application/x-tgsticker", "", event.EventMessage, event.MsgFile, "s.tgs", false},
		{"video", Media{Kind: MediaVideo, Path: "video_files/v.mp4"}, "video/mp4", "", event.EventMessage, event.MsgVideo, "v.mp4", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			it := &Item{Text: tc.caption, Media: &tc.media}
			evtType, msg := mediaMessage(it, &tc.media, 1234, tc.mime)
			if evtType != tc.evtType || msg.MsgType != tc.msgType || msg.FileName != tc.file {
				t.Fatalf("got %s %s %q, want %s %s %q", evtType.Type, msg.MsgType, msg.FileName, tc.evtType.Type, tc.msgType, tc.file)
			}
			wantBody := tc.file
			if tc.caption != "" {
				wantBody = tc.caption
			}
			if msg.Body != wantBody || msg.Info.Size != 1234 || msg.Info.MimeType != tc.mime {
				t.Errorf("body %q info %+v", msg.Body, msg.Info)
			}
			if (msg.MSC3245Voice != nil) != tc.voice {
				t.Errorf("voice flag = %v", msg.MSC3245Voice != nil)
			}
		})
	}
}

func TestMissingMediaNotice(t *testing.T) {
	it := &Item{Text: "regarde"}
	c := missingMediaNotice(it, &Media{Kind: MediaVideo, FileName: "trajet.mov"}, "(File not included.)")
	msg := c.Parsed.(*event.MessageEventContent)
	if msg.MsgType != event.MsgNotice || msg.Body != "regarde\n[trajet.mov not imported: (File not included.)]" {
		t.Errorf("notice = %s %q", msg.MsgType, msg.Body)
	}
}

func TestHumanSize(t *testing.T) {
	for n, want := range map[int64]string{512: "512 B", 2048: "2.0 KiB", 100 << 20: "100.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := humanSize(n); got != want {
			t.Errorf("humanSize(%d) = %q, want %q", n, got, want)
		}
	}
}
