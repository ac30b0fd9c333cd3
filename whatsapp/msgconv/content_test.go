package msgconv

import (
	"slices"
	"testing"

	"maunium.net/go/mautrix/event"
)

func TestLocation(t *testing.T) {
	tests := []struct {
		lat, long  float64
		name, addr string
		live       bool
		body, geo  string
	}{
		{48.8584, 2.2945, "", "", false, "Location: 48.858400, 2.294500", "geo:48.858400,2.294500"},
		{48.8584, 2.2945, "Tour Eiffel", "Champ de Mars", false, "Location: Tour Eiffel (48.858400, 2.294500)\nChamp de Mars", "geo:48.858400,2.294500"},
		{-33.5, -70.25, "", "", true, "Live location: -33.500000, -70.250000", "geo:-33.500000,-70.250000"},
	}
	for _, tt := range tests {
		got := Location(tt.lat, tt.long, tt.name, tt.addr, tt.live)
		if got.MsgType != event.MsgLocation || got.Body != tt.body || got.GeoURI != tt.geo {
			t.Errorf("Location(%v,%v) = %s %q %q, want %q %q", tt.lat, tt.long, got.MsgType, got.Body, got.GeoURI, tt.body, tt.geo)
		}
	}
}

func TestParseGeoURI(t *testing.T) {
	tests := []struct {
		in        string
		lat, long float64
		wantErr   bool
	}{
		{"geo:48.85,2.35", 48.85, 2.35, false},
		{"geo:-33.5,-70.25;u=20", -33.5, -70.25, false},
		{"geo:91,0", 0, 0, true},
		{"48.85,2.35", 0, 0, true},
		{"geo:abc", 0, 0, true},
	}
	for _, tt := range tests {
		lat, long, err := ParseGeoURI(tt.in)
		if (err != nil) != tt.wantErr || !tt.wantErr && (lat != tt.lat || long != tt.long) {
			t.Errorf("ParseGeoURI(%q) = %v, %v, %v", tt.in, lat, long, err)
		}
	}
}

func TestContact(t *testing.T) {
	vcard := "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jeanne Martin\r\nitem1.TEL;waid=33611111111:+33 6 11 11 11 11\r\nTEL;TYPE=HOME:+33 1 22 33 44 55\r\nEND:VCARD"
	tests := []struct{ name, vcard, want string }{
		{"Jeanne", vcard, "👤 Jeanne: +33 6 11 11 11 11, +33 1 22 33 44 55"},
		{"", vcard, "👤 Jeanne Martin: +33 6 11 11 11 11, +33 1 22 33 44 55"},
		{"Nobody", "BEGIN:VCARD\nEND:VCARD", "👤 Nobody"},
	}
	for _, tt := range tests {
		if got := Contact(tt.name, tt.vcard); got.Body != tt.want {
			t.Errorf("Contact(%q) = %q, want %q", tt.name, got.Body, tt.want)
		}
	}
}

func TestPollStart(t *testing.T) {
	body, extra := PollStart("Lunch?", []string{"Pizza", "Sushi"}, 0)
	if body != "📊 Lunch?\n1. Pizza\n2. Sushi" {
		t.Errorf("body = %q", body)
	}
	poll := extra[PollStartType].(map[string]any)
	if poll["max_selections"] != 2 {
		t.Errorf("max_selections = %v, want 2 (0 means any number)", poll["max_selections"])
	}
	answers := poll["answers"].([]map[string]any)
	if len(answers) != 2 || answers[1]["id"] != "1" || answers[1]["org.matrix.msc1767.text"] != "Sushi" {
		t.Errorf("answers = %v", answers)
	}
	_, extra = PollStart("One?", []string{"a", "b", "c"}, 1)
	if extra[PollStartType].(map[string]any)["max_selections"] != 1 {
		t.Error("single-choice poll lost its max_selections")
	}
}

func TestWaveform(t *testing.T) {
	if got := Waveform([]byte{0, 50, 100, 200}); !slices.Equal(got, []int{0, 512, 1024, 1024}) {
		t.Errorf("Waveform = %v", got)
	}
	if Waveform(nil) != nil {
		t.Error("empty waveform should stay empty")
	}
	wa := WAWaveform([]int{0, 1024})
	if len(wa) != 64 || wa[0] != 0 || wa[63] != 100 {
		t.Errorf("WAWaveform = %v", wa)
	}
}
