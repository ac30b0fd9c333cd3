package telegram

import (
	"testing"

	"maunium.net/go/mautrix/event"
)

func TestPreviewURL(t *testing.T) {
	preview := func(matched, canonical string) *event.BeeperLinkPreview {
		return &event.BeeperLinkPreview{LinkPreview: event.LinkPreview{CanonicalURL: canonical}, MatchedURL: matched}
	}
	tests := []struct {
		name     string
		previews []*event.BeeperLinkPreview
		text     string
		want     string
	}{
		{"no preview", nil, "see https://a.example", ""},
		{"matched url in the text", []*event.BeeperLinkPreview{preview("https://a.example", "https://a.example/")}, "see https://a.example", "https://a.example"},
		{"canonical url when the matched one is missing", []*event.BeeperLinkPreview{preview("", "https://b.example/x")}, "https://b.example/x!", "https://b.example/x"},
		{"preview of a link no longer in the text", []*event.BeeperLinkPreview{preview("https://gone.example", "")}, "edited away", ""},
		{"second preview when the first does not match", []*event.BeeperLinkPreview{nil, preview("https://x.example", ""), preview("https://c.example", "")}, "c: https://c.example", "https://c.example"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &event.MessageEventContent{Body: tc.text, BeeperLinkPreviews: tc.previews}
			if got := previewURL(c, tc.text); got != tc.want {
				t.Errorf("previewURL = %q, want %q", got, tc.want)
			}
		})
	}
}
