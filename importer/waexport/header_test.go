package waexport

import (
	"strings"
	"testing"
	"time"
)

func TestHeaderFormats(t *testing.T) {
	tests := []struct {
		name  string
		line  string
		order DateOrder
		want  time.Time
		ios   bool
		rest  string
	}{
		{"android US 12h narrow space", "12/31/23, 9:41\u202fPM - Ann: hi", MonthDayYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hi"},
		{"android US 12h plain space", "12/31/23, 9:41 PM - Ann: hi", MonthDayYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hi"},
		{"android 12am is midnight", "1/1/24, 12:05 AM - Ann: hi", MonthDayYear, time.Date(2024, 1, 1, 0, 5, 0, 0, time.UTC), false, "Ann: hi"},
		{"android 12pm is noon", "1/1/24, 12:05 PM - Ann: hi", MonthDayYear, time.Date(2024, 1, 1, 12, 5, 0, 0, time.UTC), false, "Ann: hi"},
		{"android UK 24h", "31/12/2023, 21:41 - Ann: hi", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hi"},
		{"android lowercase pm", "31/12/2023, 9:41 pm - Ann: hi", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hi"},
		{"android Spanish p. m.", "31/12/23, 9:41 p. m. - Ann: hola", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hola"},
		{"android German dotted", "31.12.23, 21:41 - Ann: hallo", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hallo"},
		{"android Dutch dashes no comma", "31-12-2023 21:41 - Ann: hoi", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hoi"},
		{"android Swedish year first", "2023-12-31 21:41 - Ann: hej", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hej"},
		{"android en dash", "31/12/2023, 21:41 – Ann: hi", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), false, "Ann: hi"},
		{"iOS 24h seconds", "[31/12/2023, 21:41:05] Ann: hi", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 5, 0, time.UTC), true, "Ann: hi"},
		{"iOS LRM before bracket", "\u200e[31/12/2023, 21:41:05] Ann: \u200e<attached: x.jpg>", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 5, 0, time.UTC), true, "Ann: \u200e<attached: x.jpg>"},
		{"iOS US 12h seconds", "[12/31/23, 9:41:05\u202fPM] Ann: hi", MonthDayYear, time.Date(2023, 12, 31, 21, 41, 5, 0, time.UTC), true, "Ann: hi"},
		{"iOS without seconds", "[31/12/2023, 21:41] Ann: hi", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), true, "Ann: hi"},
		{"iOS German dotted", "[31.12.23, 21:41:05] Ann: hallo", DayMonthYear, time.Date(2023, 12, 31, 21, 41, 5, 0, time.UTC), true, "Ann: hallo"},
		{"Finnish dotted time", "31.12.2023 klo 21.41 - Ann: hei", DayMonthYear, time.Time{}, false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, ok := parseHeader(tc.line)
			if tc.want.IsZero() {
				if ok {
					t.Fatalf("unsupported format accepted: %+v", h)
				}
				return
			}
			if !ok {
				t.Fatalf("not recognised: %q", tc.line)
			}
			w, err := h.wall(tc.order)
			if err != nil {
				t.Fatal(err)
			}
			if got := w.time(time.UTC); !got.Equal(tc.want) {
				t.Errorf("time %v, want %v", got, tc.want)
			}
			if h.ios != tc.ios || tc.line[h.restStart:] != tc.rest {
				t.Errorf("ios %v rest %q", h.ios, tc.line[h.restStart:])
			}
		})
	}
	for _, line := range []string{
		"", "hello", "31/12/2023 hello", "[31/12/2023, 21:41:05 Ann: no closing bracket",
		"31/12/2023, 21:41] Ann: closing without opening", "123/12/2023, 21:41 - x", "31/12/202, 21:41 - x",
		"1/2/3, 10:00 - x",
	} {
		if h, ok := parseHeader(line); ok {
			t.Errorf("%q accepted as a header: %+v", line, h)
		}
	}
}

func TestBodies(t *testing.T) {
	type want struct {
		text     string
		edited   bool
		deleted  bool
		media    *Media
		contact  bool
		location bool
		poll     bool
		service  string
	}
	tests := []struct {
		body string
		want want
	}{
		{"hello", want{text: "hello"}},
		{"\u200eYou deleted this message.", want{deleted: true}},
		{"You deleted this message", want{deleted: true}},
		{"This message was deleted", want{deleted: true}},
		{"This message was deleted, she said\nreally", want{text: "This message was deleted, she said\nreally"}},
		{"fine \u200e<This message was edited>", want{text: "fine", edited: true}},
		{"<Media omitted>", want{media: &Media{Omitted: true}}},
		{"\u200eGIF omitted", want{media: &Media{Kind: MediaAnimation, Omitted: true}}},
		{"\u200edocument omitted", want{media: &Media{Kind: MediaFile, Omitted: true}}},
		{"\u200eaudio omitted", want{media: &Media{Kind: MediaVoice, Omitted: true}}},
		{"\u200eContact card omitted", want{contact: true}},
		{"VID-20240101-WA0003.mp4 (file attached)\nlook", want{text: "look", media: &Media{Kind: MediaVideo, Path: "VID-20240101-WA0003.mp4", MIME: "video/mp4"}}},
		{"STK-20240101-WA0004.webp (file attached)", want{media: &Media{Kind: MediaSticker, Path: "STK-20240101-WA0004.webp", MIME: "image/webp"}}},
		{"\u200e<attached: 00000020-STICKER-2024-01-01-10-00-00.webp>", want{media: &Media{Kind: MediaSticker, Path: "00000020-STICKER-2024-01-01-10-00-00.webp", MIME: "image/webp"}}},
		{"\u200eLocation: https://maps.google.com/?q=-33.8688,151.2093", want{location: true}},
		{"location: https://maps.google.com/?q=999,1", want{text: "location: https://maps.google.com/?q=999,1"}},
		{"location: https://example.org/", want{text: "location: https://example.org/"}},
		{"POLL:\nQ?\nOPTION: a (1 vote)", want{poll: true}},
		{"POLL:\nQ?\nnot an option", want{text: "POLL:\nQ?\nnot an option"}},
		{"POLL:", want{text: "POLL:"}},
		{"\u200eMissed video call", want{service: "call"}},
		{"Missed video call", want{text: "Missed video call"}},
		{"\u200eVoice call, \u200e5 min", want{service: "call"}},
		{"*hi*", want{text: "*hi*"}},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			m := &Message{Sender: parseSender("Ann")}
			fillBody(m, tc.body)
			w := tc.want
			if m.Text.Plain != w.text || m.Edited != w.edited || m.Deleted != w.deleted ||
				(m.Contact != nil) != w.contact || (m.Location != nil) != w.location || (m.Poll != nil) != w.poll {
				t.Errorf("got %+v", m)
			}
			if (m.Media == nil) != (w.media == nil) || m.Media != nil && *m.Media != *w.media {
				t.Errorf("media %+v, want %+v", m.Media, w.media)
			}
			if got := ""; m.Service != nil {
				got = m.Service.Action
				if got != w.service {
					t.Errorf("service %q", got)
				}
			} else if w.service != "" {
				t.Errorf("no service, want %s", w.service)
			}
		})
	}
}

func TestSystemLines(t *testing.T) {
	tests := []struct {
		line, action, actor string
		members             []string
		self                bool
	}{
		{"You created group \"Trip\"", "create_group", "You", nil, true},
		{"You added Bob and Carol", "add_members", "You", []string{"Bob", "Carol"}, true},
		{"Ann added Bob, Carol and \u202a+44 7700 900123\u202c", "add_members", "Ann", []string{"Bob", "Carol", "+447700900123"}, false},
		{"Ann removed you", "remove_members", "Ann", []string{"you"}, false},
		{"\u202a+33 6 12 34 56 78\u202c left", "leave", "+33612345678", nil, false},
		{"Ann changed the group name from \"a\" to \"b\"", "change_subject", "Ann", nil, false},
		{"Ann deleted this group's icon", "delete_icon", "Ann", nil, false},
		{"Ann changed this group's settings to allow only admins to send messages to this group", "change_settings", "Ann", nil, false},
		{"Your security code with Ann changed. Tap to learn more.", "security_code_changed", "Ann", nil, false},
		{"You're now an admin", "admin", "", nil, false},
		{"You blocked this contact. Tap to unblock.", "block", "", nil, false},
		{"Messages to this group are now secured with end-to-end encryption. Tap for more info.", "encryption_notice", "", nil, false},
		{"Ann changed to +33 6 98 76 54 32", "change_number", "Ann", []string{"+33698765432"}, false},
		{"Ann's security code changed. Tap to learn more.", "security_code_changed", "Ann", nil, false},
		{"Disappearing messages were turned off.", "disappearing_messages", "", nil, false},
		{"You're no longer an admin", "admin", "", nil, false},
		{"You joined using this group's invite link", "join", "You", nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.line, func(t *testing.T) {
			s, ok := matchSystem(tc.line)
			if !ok {
				t.Fatal("not recognised")
			}
			var ms []string
			for _, m := range s.Members {
				ms = append(ms, m.ID)
			}
			if s.Action != tc.action || s.Actor.ID != tc.actor || strings.Join(ms, "|") != strings.Join(tc.members, "|") || s.Actor.Self != tc.self {
				t.Errorf("got %+v", s)
			}
		})
	}
	for _, line := range []string{"Ann: Bob left", "Ann: I added Bob", "just some words"} {
		if s, ok := matchSystem(line); ok {
			t.Errorf("%q taken as system line %+v", line, s)
		}
	}
}
