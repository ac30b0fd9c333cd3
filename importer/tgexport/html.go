package tgexport

import (
	"html"
	"net/url"
	"strings"
)

// HTMLOptions customise EntitiesHTML.
type HTMLOptions struct {
	// UserLink returns the link a mention should point at, for example a
	// matrix.to link to the ghost user, or "" to leave the mention as
	// text. For mention_name, userID is set and username is empty; for
	// mention, username is the text without "@" and userID is 0.
	UserLink func(userID int64, username string) string
}

// EntitiesHTML renders entities as Matrix HTML (org.matrix.custom.html).
// All text is escaped, every tag opened is closed within its own entity,
// and links are kept only for http, https, mailto, tel and matrix URLs, so
// the output is well formed and safe whatever the export holds. It returns
// "" when the text has no formatting at all, in which case the plain body
// is enough.
func EntitiesHTML(ents []Entity, opts *HTMLOptions) string {
	var b strings.Builder
	formatted := false
	for _, e := range ents {
		if renderEntity(&b, e, opts) {
			formatted = true
		}
	}
	if !formatted {
		return ""
	}
	return b.String()
}

// escapeText escapes text and turns newlines into <br>.
func escapeText(s string) string {
	s = html.EscapeString(s)
	if strings.Contains(s, "\n") {
		s = strings.ReplaceAll(s, "\n", "<br>")
	}
	return s
}

func wrap(b *strings.Builder, open, close, text string) bool {
	b.WriteString(open)
	b.WriteString(escapeText(text))
	b.WriteString(close)
	return true
}

// renderEntity writes one entity and reports whether it produced markup.
func renderEntity(b *strings.Builder, e Entity, opts *HTMLOptions) bool {
	switch e.Type {
	case "bold":
		return wrap(b, "<strong>", "</strong>", e.Text)
	case "italic":
		return wrap(b, "<em>", "</em>", e.Text)
	case "underline":
		return wrap(b, "<u>", "</u>", e.Text)
	case "strikethrough":
		return wrap(b, "<del>", "</del>", e.Text)
	case "spoiler":
		return wrap(b, "<span data-mx-spoiler>", "</span>", e.Text)
	case "code":
		return wrap(b, "<code>", "</code>", e.Text)
	case "blockquote":
		return wrap(b, "<blockquote>", "</blockquote>", e.Text)
	case "pre":
		b.WriteString("<pre><code")
		if lang := safeLanguage(e.Language); lang != "" {
			b.WriteString(` class="language-`)
			b.WriteString(lang)
			b.WriteString(`"`)
		}
		b.WriteString(">")
		b.WriteString(html.EscapeString(e.Text))
		b.WriteString("</code></pre>")
		return true
	case "text_link":
		return link(b, e.Href, e.Text)
	case "link":
		href := e.Text
		if !strings.Contains(href, "://") && !strings.HasPrefix(strings.ToLower(href), "mailto:") {
			href = "https://" + href
		}
		return link(b, href, e.Text)
	case "email":
		return link(b, "mailto:"+e.Text, e.Text)
	case "phone":
		return link(b, "tel:"+phoneDigits(e.Text), e.Text)
	case "mention_name":
		if opts != nil && opts.UserLink != nil {
			if href := opts.UserLink(e.UserID, ""); href != "" {
				return link(b, href, e.Text)
			}
		}
	case "mention":
		if opts != nil && opts.UserLink != nil {
			if href := opts.UserLink(0, strings.TrimPrefix(e.Text, "@")); href != "" {
				return link(b, href, e.Text)
			}
		}
	}
	// plain, hashtag, cashtag, bot_command, bank_card, custom_emoji (its
	// text is the fallback emoji) and unknown types.
	b.WriteString(escapeText(e.Text))
	return false
}

// link writes an anchor when href is safe, or only the text otherwise.
func link(b *strings.Builder, href, text string) bool {
	if !safeURL(href) {
		b.WriteString(escapeText(text))
		return false
	}
	b.WriteString(`<a href="`)
	b.WriteString(html.EscapeString(href))
	b.WriteString(`">`)
	b.WriteString(escapeText(text))
	b.WriteString("</a>")
	return true
}

func safeURL(href string) bool {
	u, err := url.Parse(href)
	if err != nil {
		return false
	}
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
		return u.Host != ""
	case "mailto", "tel", "matrix":
		return u.Opaque != "" || u.Path != ""
	}
	return false
}

// safeLanguage keeps a pre block's language only if it is a plain name.
func safeLanguage(lang string) string {
	if len(lang) > 32 {
		return ""
	}
	for _, r := range lang {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("+-_#.", r)) {
			return ""
		}
	}
	return lang
}

func phoneDigits(s string) string {
	var b strings.Builder
	for i, r := range s {
		if r >= '0' && r <= '9' || (r == '+' && i == 0) {
			b.WriteRune(r)
		}
	}
	return b.String()
}
