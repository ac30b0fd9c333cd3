package msgconv

import (
	"strings"
	"unicode/utf16"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/event"
)

// LinkPreview turns the web page preview Telegram attached to a message into an MSC4095
// bundled preview (com.beeper.linkpreviews), so Matrix clients show the same card without
// fetching the page themselves. The image is not set: the caller uploads the returned photo
// (nil when the page has none). Pages Telegram is still fetching or could not fetch give nil.
func LinkPreview(text string, entities []tg.MessageEntityClass, media tg.MessageMediaClass) (*event.BeeperLinkPreview, *tg.Photo) {
	mw, ok := media.(*tg.MessageMediaWebPage)
	if !ok || mw == nil {
		return nil, nil
	}
	wp, ok := mw.Webpage.(*tg.WebPage)
	if !ok || wp == nil || wp.URL == "" {
		return nil, nil
	}
	p := &event.BeeperLinkPreview{
		LinkPreview: event.LinkPreview{
			CanonicalURL: wp.URL,
			Title:        wp.Title,
			Type:         wp.Type,
			Description:  wp.Description,
			SiteName:     wp.SiteName,
		},
		MatchedURL: matchedURL(text, entities, wp),
	}
	if p.Title == "" {
		// Clients show the title as the card's heading: fall back to the site or the author.
		p.Title = firstNonEmpty(wp.SiteName, wp.Author, wp.DisplayURL)
	}
	photo, _ := wp.Photo.(*tg.Photo)
	return p, photo
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// comparableURL drops the scheme, "www." and a trailing slash, so a link typed without
// "https://" still matches the page Telegram previewed.
func comparableURL(u string) string {
	u = strings.ToLower(u)
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	return strings.TrimSuffix(strings.TrimPrefix(u, "www."), "/")
}

// matchedURL is the link of the message that the preview belongs to, as written in the text
// (MSC4095's matched_url lets clients tie the card to the link); the page URL when no link of
// the text matches it (Telegram may have followed a redirect).
func matchedURL(text string, entities []tg.MessageEntityClass, wp *tg.WebPage) string {
	units := utf16.Encode([]rune(text))
	want := map[string]bool{comparableURL(wp.URL): true}
	if wp.DisplayURL != "" {
		want[comparableURL(wp.DisplayURL)] = true
	}
	first := ""
	for _, e := range entities {
		var link string
		switch e := e.(type) {
		case *tg.MessageEntityURL:
			if e.Offset < 0 || e.Offset+e.Length > len(units) {
				continue
			}
			link = string(utf16.Decode(units[e.Offset : e.Offset+e.Length]))
		case *tg.MessageEntityTextURL:
			link = e.URL
		default:
			continue
		}
		if want[comparableURL(link)] {
			return link
		}
		if first == "" {
			first = link
		}
	}
	for _, word := range strings.Fields(text) {
		word = strings.TrimRight(word, ".,;:!?)")
		if want[comparableURL(word)] {
			return word
		}
	}
	if first != "" {
		return first
	}
	return wp.URL
}
