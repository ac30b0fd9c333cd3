package msgconv

import (
	"testing"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/event"
)

func TestLinkPreview(t *testing.T) {
	page := func(w *tg.WebPage) tg.MessageMediaClass { return &tg.MessageMediaWebPage{Webpage: w} }
	photo := &tg.Photo{ID: 9}
	tests := []struct {
		name      string
		text      string
		entities  []tg.MessageEntityClass
		media     tg.MessageMediaClass
		want      *event.BeeperLinkPreview
		wantPhoto bool
	}{
		{"not a web page", "hi", nil, &tg.MessageMediaGeo{}, nil, false},
		{"pending page", "https://a.example", nil, page(nil), nil, false},
		{"page still loading", "https://a.example", nil, &tg.MessageMediaWebPage{Webpage: &tg.WebPagePending{ID: 1}}, nil, false},
		{
			"url entity, full card with photo",
			"look: https://news.example.org/story!",
			[]tg.MessageEntityClass{&tg.MessageEntityURL{Offset: 6, Length: 30}},
			page(&tg.WebPage{URL: "https://news.example.org/story", DisplayURL: "news.example.org/story", Type: "article",
				SiteName: "News", Title: "A story", Description: "What happened", Photo: photo}),
			&event.BeeperLinkPreview{
				LinkPreview: event.LinkPreview{CanonicalURL: "https://news.example.org/story", Title: "A story", Type: "article",
					Description: "What happened", SiteName: "News"},
				MatchedURL: "https://news.example.org/story",
			},
			true,
		},
		{
			"link typed without scheme matches the page",
			"www.example.com/x/ and more",
			[]tg.MessageEntityClass{&tg.MessageEntityURL{Offset: 0, Length: 18}},
			page(&tg.WebPage{URL: "https://example.com/x", Title: "X"}),
			&event.BeeperLinkPreview{LinkPreview: event.LinkPreview{CanonicalURL: "https://example.com/x", Title: "X"}, MatchedURL: "www.example.com/x/"},
			false,
		},
		{
			"text link, title falls back to the site name",
			"this",
			[]tg.MessageEntityClass{&tg.MessageEntityTextURL{Offset: 0, Length: 4, URL: "https://t.example/p"}},
			page(&tg.WebPage{URL: "https://t.example/p", SiteName: "T site"}),
			&event.BeeperLinkPreview{LinkPreview: event.LinkPreview{CanonicalURL: "https://t.example/p", Title: "T site", SiteName: "T site"}, MatchedURL: "https://t.example/p"},
			false,
		},
		{
			"redirected page keeps the link of the text",
			"short.example/abc",
			[]tg.MessageEntityClass{&tg.MessageEntityURL{Offset: 0, Length: 17}},
			page(&tg.WebPage{URL: "https://long.example/article", Title: "Long"}),
			&event.BeeperLinkPreview{LinkPreview: event.LinkPreview{CanonicalURL: "https://long.example/article", Title: "Long"}, MatchedURL: "short.example/abc"},
			false,
		},
		{
			"no entities: the link is found in the text",
			"see https://plain.example/.",
			nil,
			page(&tg.WebPage{URL: "https://plain.example/", Title: "P"}),
			&event.BeeperLinkPreview{LinkPreview: event.LinkPreview{CanonicalURL: "https://plain.example/", Title: "P"}, MatchedURL: "https://plain.example/"},
			false,
		},
		{
			"entity past the end of the text is ignored",
			"abc",
			[]tg.MessageEntityClass{&tg.MessageEntityURL{Offset: 2, Length: 10}},
			page(&tg.WebPage{URL: "https://x.example", Title: "X"}),
			&event.BeeperLinkPreview{LinkPreview: event.LinkPreview{CanonicalURL: "https://x.example", Title: "X"}, MatchedURL: "https://x.example"},
			false,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ph := LinkPreview(tc.text, tc.entities, tc.media)
			if (ph != nil) != tc.wantPhoto {
				t.Errorf("photo = %v, want photo: %v", ph, tc.wantPhoto)
			}
			if (got == nil) != (tc.want == nil) {
				t.Fatalf("preview = %+v, want %+v", got, tc.want)
			}
			if got != nil && *got != *tc.want {
				t.Errorf("preview = %+v\nwant      %+v", *got, *tc.want)
			}
		})
	}
}
