package tgtestserver

import (
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var errWebpageCurlFailed = tgerr.New(400, "WEBPAGE_CURL_FAILED")

// WebPage is a page the server "fetched": a message whose text contains its URL gets it as a
// link preview (messageMediaWebPage), as Telegram's servers attach previews to links they could
// load. The test server reaches no network, so tests register the pages they link to.
type WebPage struct {
	// URL is the address as it appears in messages.
	URL string
	// SiteName, Title and Description are the page's Open Graph data.
	SiteName, Title, Description string
	// Type is "article", "photo", "video"…; "article" when empty.
	Type string
	// Photo is a JPEG/PNG shown as the preview image.
	Photo []byte
}

// webPage is a stored page preview.
type webPage struct {
	id                           int64
	url, displayURL              string
	siteName, title, description string
	typ                          string
	photo                        *photoFile
}

func (w *webPage) render(st *store) *tg.WebPage {
	out := &tg.WebPage{
		ID: w.id, URL: w.url, DisplayURL: w.displayURL, Hash: int(w.id & 0x7fffffff),
		Type: w.typ, SiteName: w.siteName, Title: w.title, Description: w.description,
	}
	out.SetFlags()
	if w.photo != nil {
		out.SetPhoto(st.renderPhoto(w.photo))
	}
	return out
}

// displayURL is the URL without its scheme, as Telegram shows it.
func displayURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		u = u[i+3:]
	}
	return strings.TrimSuffix(u, "/")
}

// AddWebPage registers a page, so messages linking to it get its preview.
func (s *Server) AddWebPage(p WebPage) error {
	return s.state.do(func(t *tx) error {
		if p.URL == "" {
			return errf("AddWebPage: empty URL")
		}
		w := &webPage{id: randomInt64(), url: p.URL, displayURL: displayURL(p.URL), siteName: p.SiteName,
			title: p.Title, description: p.Description, typ: p.Type}
		if w.typ == "" {
			w.typ = "article"
		}
		if len(p.Photo) > 0 {
			ph, err := t.st.newPhoto(p.Photo)
			if err != nil {
				return err
			}
			w.photo = ph
		}
		t.st.webPages[displayURL(p.URL)] = w
		return nil
	})
}

// pageFor finds the registered page of url (scheme and trailing slash ignored).
func (st *store) pageFor(url string) *webPage { return st.webPages[displayURL(url)] }

// previewOf finds the first registered page that text links to, as Telegram previews the
// first link of a message.
func (st *store) previewOf(text string) *webPage {
	if len(st.webPages) == 0 {
		return nil
	}
	for _, word := range strings.Fields(text) {
		word = strings.TrimRight(word, ".,;:!?)")
		if !strings.Contains(word, ".") {
			continue
		}
		if w := st.pageFor(word); w != nil {
			return w
		}
	}
	return nil
}

// inputWebPage is the media of messages.sendMedia with inputMediaWebPage: the preview of url,
// which must be in the text; an unknown page fails unless the preview is optional (then the
// message goes out as plain text).
func (st *store) inputWebPage(text string, in *tg.InputMediaWebPage) (*media, error) {
	if !strings.Contains(text, displayURL(in.URL)) {
		return nil, errWebpageCurlFailed
	}
	w := st.pageFor(in.URL)
	if w == nil {
		if in.Optional {
			return nil, nil
		}
		return nil, errWebpageCurlFailed
	}
	return &media{webpage: w}, nil
}
