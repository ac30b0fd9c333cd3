package msgconv

import (
	"reflect"
	"strings"
	"testing"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/event"
)

func TestDescribeDocument(t *testing.T) {
	tests := []struct {
		name        string
		doc         *tg.Document
		round, voic bool
		wantType    event.Type
		wantMsg     event.MessageType
		wantName    string
		wantExtra   string // key expected in Extra
		wantMS      int
	}{
		{"plain file", &tg.Document{MimeType: "application/pdf", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: "report.pdf"}}},
			false, false, event.EventMessage, event.MsgFile, "report.pdf", "", 0},
		{"image document", &tg.Document{MimeType: "image/png", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeImageSize{W: 10, H: 20}}},
			false, false, event.EventMessage, event.MsgImage, "file", "", 0},
		{"video", &tg.Document{MimeType: "video/mp4", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeVideo{W: 640, H: 360, Duration: 2.5}}},
			false, false, event.EventMessage, event.MsgVideo, "video.mp4", "", 2500},
		{"round video", &tg.Document{MimeType: "video/mp4", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeVideo{RoundMessage: true, Duration: 1}}},
			false, false, event.EventMessage, event.MsgVideo, "round video.mp4", "", 1000},
		{"gif", &tg.Document{MimeType: "video/mp4", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeAnimated{}, &tg.DocumentAttributeVideo{W: 1, H: 1}}},
			false, false, event.EventMessage, event.MsgVideo, "animation.mp4", "info", 0},
		{"voice note", &tg.Document{MimeType: "audio/ogg", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeAudio{Voice: true, Duration: 4, Waveform: []byte{0xff}}}},
			false, false, event.EventMessage, event.MsgAudio, "voice message.ogg", "org.matrix.msc3245.voice", 4000},
		{"music", &tg.Document{MimeType: "audio/mpeg", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeAudio{Performer: "Band", Title: "Song", Duration: 3}}},
			false, false, event.EventMessage, event.MsgAudio, "Band - Song", "", 3000},
		{"static sticker", &tg.Document{MimeType: "image/webp", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeSticker{Alt: "😀"}, &tg.DocumentAttributeImageSize{W: 512, H: 512}}},
			false, false, event.EventSticker, event.MsgFile, "sticker 😀", "", 0},
		{"animated sticker", &tg.Document{MimeType: "application/x-tgsticker", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeSticker{Alt: "🎉"}}},
			false, false, event.EventMessage, event.MsgFile, "sticker 🎉.tgs", "", 0},
		{"video sticker", &tg.Document{MimeType: "video/webm", Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeSticker{Alt: "🐱"}, &tg.DocumentAttributeVideo{W: 512, H: 512}}},
			false, false, event.EventMessage, event.MsgVideo, "sticker 🐱.webm", "info", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DescribeDocument(tc.doc, tc.round, tc.voic)
			if d.EventType != tc.wantType || d.MsgType != tc.wantMsg || d.FileName != tc.wantName || d.DurationMS != tc.wantMS {
				t.Errorf("got type=%s msgtype=%s name=%q ms=%d", d.EventType.Type, d.MsgType, d.FileName, d.DurationMS)
			}
			if tc.wantExtra != "" {
				if _, ok := d.Extra[tc.wantExtra]; !ok {
					t.Errorf("extra lacks %q: %v", tc.wantExtra, d.Extra)
				}
			}
			c := d.FileContent(42)
			if c.Info.Size != 42 || (d.EventType == event.EventSticker) != (c.MsgType == "") {
				t.Errorf("file content %+v", c)
			}
		})
	}
}

func TestDecodeWaveform(t *testing.T) {
	tests := []struct {
		in   []byte
		want []int
	}{
		{nil, []int{}},
		{[]byte{0x1f}, []int{1024}},                // 8 bits hold one 5-bit value
		{[]byte{0xff, 0x03}, []int{1024, 1024, 0}}, // 16 bits: 31, 31, 0
		{[]byte{0x00, 0x00, 0x00, 0x00, 0x00}, []int{0, 0, 0, 0, 0, 0, 0, 0}},
		{[]byte{0x01, 0x00}, []int{33, 0, 0}},
	}
	for _, tc := range tests {
		if got := DecodeWaveform(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("DecodeWaveform(%x) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestDescribeMedia(t *testing.T) {
	tests := []struct {
		name     string
		media    tg.MessageMediaClass
		wantNil  bool
		wantType event.Type
		wantMsg  event.MessageType
		wantBody string
		wantGeo  string
	}{
		{"web page preview keeps the text only", &tg.MessageMediaWebPage{}, true, event.Type{}, "", "", ""},
		{"location", &tg.MessageMediaGeo{Geo: &tg.GeoPoint{Lat: 48.8584, Long: 2.2945}}, false, event.EventMessage, event.MsgLocation, "Location: geo:48.858400,2.294500", "geo:48.858400,2.294500"},
		{"venue", &tg.MessageMediaVenue{Geo: &tg.GeoPoint{Lat: 1, Long: 2}, Title: "Tour Eiffel", Address: "Paris"}, false, event.EventMessage, event.MsgLocation, "Tour Eiffel, Paris: geo:1.000000,2.000000", "geo:1.000000,2.000000"},
		{"live location", &tg.MessageMediaGeoLive{Geo: &tg.GeoPoint{Lat: 1, Long: 2}, Period: 900}, false, event.EventMessage, event.MsgLocation, "Live location, shared for 15 min: geo:1.000000,2.000000", "geo:1.000000,2.000000"},
		{"contact", &tg.MessageMediaContact{FirstName: "Ada", LastName: "Lovelace", PhoneNumber: "33612"}, false, event.EventMessage, event.MsgText, "👤 Contact: Ada Lovelace +33612", ""},
		{"dice", &tg.MessageMediaDice{Emoticon: "🎲", Value: 4}, false, event.EventMessage, event.MsgText, "🎲 4", ""},
		{"poll", &tg.MessageMediaPoll{Poll: tg.Poll{Question: tg.TextWithEntities{Text: "Lunch?"}, Answers: []tg.PollAnswerClass{
			&tg.PollAnswer{Text: tg.TextWithEntities{Text: "Yes"}, Option: []byte("0")},
			&tg.PollAnswer{Text: tg.TextWithEntities{Text: "No"}, Option: []byte("1")},
		}}}, false, event.EventUnstablePollStart, event.MsgText, "📊 Poll: Lunch?\n1. Yes\n2. No", ""},
		{"unsupported", &tg.MessageMediaUnsupported{}, false, event.EventMessage, event.MsgNotice, "This message is not supported by your Telegram version; open Telegram to see it.", ""},
		{"other media gets a notice", &tg.MessageMediaInvoice{}, false, event.EventMessage, event.MsgNotice, "An attachment (invoice) the bridge cannot show yet; open Telegram to see it.", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DescribeMedia(tc.media)
			if tc.wantNil {
				if d != nil {
					t.Fatalf("want nil, got %+v", d)
				}
				return
			}
			if d == nil || d.Content == nil {
				t.Fatal("no description")
			}
			if d.EventType != tc.wantType || d.Content.MsgType != tc.wantMsg || d.Content.Body != tc.wantBody || d.Content.GeoURI != tc.wantGeo {
				t.Errorf("got type=%s msgtype=%s body=%q geo=%q", d.EventType.Type, d.Content.MsgType, d.Content.Body, d.Content.GeoURI)
			}
		})
	}
	poll := DescribeMedia(&tg.MessageMediaPoll{Poll: tg.Poll{Question: tg.TextWithEntities{Text: "Q"}, MultipleChoice: true, Answers: []tg.PollAnswerClass{
		&tg.PollAnswer{Text: tg.TextWithEntities{Text: "A"}, Option: []byte("a")}, &tg.PollAnswer{Text: tg.TextWithEntities{Text: "B"}, Option: []byte("b")},
	}}})
	start, _ := poll.Extra["org.matrix.msc3381.poll.start"].(map[string]any)
	if start["max_selections"] != 2 || start["kind"] != "org.matrix.msc3381.poll.undisclosed" || !strings.Contains(poll.Content.FormattedBody, "<li>B</li>") {
		t.Errorf("MSC3381 poll content: %v / %s", start, poll.Content.FormattedBody)
	}
}

func TestDescribeLiveLocation(t *testing.T) {
	at := func(lat, long float64) tg.GeoPointClass { return &tg.GeoPoint{Lat: lat, Long: long} }
	tests := []struct {
		name          string
		media         *tg.MessageMediaGeoLive
		sentAt, at    int
		wantBody, geo string
		wantType      event.MessageType
	}{
		{"sharing, date unknown", &tg.MessageMediaGeoLive{Geo: at(1, 2), Period: 900}, 0, 5000,
			"Live location, shared for 15 min: geo:1.000000,2.000000", "geo:1.000000,2.000000", event.MsgLocation},
		{"moved while sharing", &tg.MessageMediaGeoLive{Geo: at(48.86, 2.36), Period: 3600}, 1000, 1500,
			"Live location, shared for 1 h: geo:48.860000,2.360000", "geo:48.860000,2.360000", event.MsgLocation},
		{"stopped: period cut to the edit", &tg.MessageMediaGeoLive{Geo: at(48.86, 2.36), Period: 30}, 1000, 1030,
			"Live location ended, last position: geo:48.860000,2.360000", "geo:48.860000,2.360000", event.MsgLocation},
		{"period over", &tg.MessageMediaGeoLive{Geo: at(3, 4), Period: 60}, 1000, 9000,
			"Live location ended, last position: geo:3.000000,4.000000", "geo:3.000000,4.000000", event.MsgLocation},
		{"shared until stopped never runs out", &tg.MessageMediaGeoLive{Geo: at(3, 4), Period: 0x7FFFFFFF}, 1000, 1 << 30,
			"Live location, shared until stopped: geo:3.000000,4.000000", "geo:3.000000,4.000000", event.MsgLocation},
		{"no coordinates", &tg.MessageMediaGeoLive{Geo: &tg.GeoPointEmpty{}, Period: 60}, 1000, 1010,
			"Live location (no coordinates)", "", event.MsgNotice},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := DescribeLiveLocation(tc.media, tc.sentAt, tc.at)
			c := d.Content
			if c.Body != tc.wantBody || c.GeoURI != tc.geo || c.MsgType != tc.wantType {
				t.Fatalf("got %s %q %q", c.MsgType, c.Body, c.GeoURI)
			}
			if tc.geo != "" {
				loc, _ := d.Extra["org.matrix.msc3488.location"].(map[string]any)
				if loc["uri"] != tc.geo || d.Extra["org.matrix.msc3488.asset"] == nil {
					t.Errorf("MSC3488 fields %v", d.Extra)
				}
			}
		})
	}
}
