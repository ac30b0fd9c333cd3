package msgconv

import (
	"html"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/gotd/td/tg"
)

// Mentions turns Telegram mentions into Matrix links. Either function may be nil; returning ""
// leaves the mention as plain text.
type Mentions struct {
	// User returns the matrix.to URL of a Telegram user mentioned by ID (a text mention).
	User func(userID int64) string
	// Username returns the matrix.to URL of the user or chat behind "@username" (without the @).
	Username func(username string) string
}

// Formatted is a Matrix message text: the plain body and, when anything is formatted, its HTML.
type Formatted struct {
	Body string
	HTML string
}

// node is an entity with the entities nested inside it.
type node struct {
	ent        tg.MessageEntityClass
	start, end int // UTF-16 units
	children   []*node
}

// FromTelegram renders Telegram text and its entities as Matrix HTML. Entities that overlap
// without nesting are split at the boundary of the one they run into; entities past the end of the text are
// dropped rather than trusted.
func FromTelegram(text string, entities []tg.MessageEntityClass, m Mentions) Formatted {
	units := utf16.Encode([]rune(text))
	root := &node{start: 0, end: len(units)}
	sorted := make([]tg.MessageEntityClass, 0, len(entities))
	for _, e := range entities {
		if e == nil || e.GetLength() <= 0 || e.GetOffset() < 0 || e.GetOffset() >= len(units) {
			continue
		}
		sorted = append(sorted, e)
	}
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].GetOffset() != sorted[j].GetOffset() {
			return sorted[i].GetOffset() < sorted[j].GetOffset()
		}
		return sorted[i].GetLength() > sorted[j].GetLength()
	})
	for _, e := range sorted {
		insert(root, e, e.GetOffset(), min(e.GetOffset()+e.GetLength(), len(units)))
	}
	var b strings.Builder
	render(&b, units, root, m, false)
	out := Formatted{Body: text, HTML: b.String()}
	if out.HTML == strings.ReplaceAll(html.EscapeString(text), "\n", "<br/>") {
		// Nothing but plain text (or entities without markup, such as hashtags).
		out.HTML = ""
	}
	return out
}

func insert(parent *node, e tg.MessageEntityClass, start, end int) {
	start, end = max(start, parent.start), min(end, parent.end)
	if start >= end {
		return
	}
	for _, c := range parent.children {
		if start >= c.start && end <= c.end {
			insert(c, e, start, end)
			return
		}
	}
	for _, c := range parent.children {
		switch {
		case start < c.start && end > c.start && end < c.end:
			// Runs into a sibling: the part inside it becomes its child.
			insert(c, e, c.start, end)
			end = c.start
		case start > c.start && start < c.end && end > c.end:
			// Starts inside a sibling and runs past it.
			insert(c, e, start, c.end)
			start = c.end
		}
	}
	if start >= end {
		return
	}
	parent.children = append(parent.children, &node{ent: e, start: start, end: end})
	sort.SliceStable(parent.children, func(i, j int) bool { return parent.children[i].start < parent.children[j].start })
}

func segment(units []uint16, start, end int) string { return string(utf16.Decode(units[start:end])) }

func writeText(b *strings.Builder, s string, inPre bool) {
	s = html.EscapeString(s)
	if !inPre {
		s = strings.ReplaceAll(s, "\n", "<br/>")
	}
	b.WriteString(s)
}

func renderChildren(b *strings.Builder, units []uint16, n *node, m Mentions, inPre bool) {
	pos := n.start
	for _, c := range n.children {
		writeText(b, segment(units, pos, c.start), inPre)
		render(b, units, c, m, inPre)
		pos = c.end
	}
	writeText(b, segment(units, pos, n.end), inPre)
}

func link(b *strings.Builder, href string, inner func()) {
	b.WriteString(`<a href="` + html.EscapeString(href) + `">`)
	inner()
	b.WriteString("</a>")
}

func render(b *strings.Builder, units []uint16, n *node, m Mentions, inPre bool) {
	inner := func() { renderChildren(b, units, n, m, inPre) }
	wrap := func(open, close string) {
		b.WriteString(open)
		inner()
		b.WriteString(close)
	}
	text := segment(units, n.start, n.end)
	switch e := n.ent.(type) {
	case nil:
		inner()
	case *tg.MessageEntityBold:
		wrap("<strong>", "</strong>")
	case *tg.MessageEntityItalic:
		wrap("<em>", "</em>")
	case *tg.MessageEntityUnderline:
		wrap("<u>", "</u>")
	case *tg.MessageEntityStrike:
		wrap("<del>", "</del>")
	case *tg.MessageEntitySpoiler:
		wrap("<span data-mx-spoiler>", "</span>")
	case *tg.MessageEntityCode:
		b.WriteString("<code>")
		writeText(b, text, true)
		b.WriteString("</code>")
	case *tg.MessageEntityPre:
		if e.Language != "" {
			b.WriteString(`<pre><code class="language-` + html.EscapeString(e.Language) + `">`)
		} else {
			b.WriteString("<pre><code>")
		}
		writeText(b, text, true)
		b.WriteString("</code></pre>")
	case *tg.MessageEntityBlockquote:
		wrap("<blockquote>", "</blockquote>")
	case *tg.MessageEntityTextURL:
		link(b, e.URL, inner)
	case *tg.MessageEntityURL:
		href := text
		if !strings.Contains(href, "://") {
			href = "https://" + href
		}
		link(b, href, inner)
	case *tg.MessageEntityEmail:
		link(b, "mailto:"+text, inner)
	case *tg.MessageEntityPhone:
		link(b, "tel:"+strings.Map(func(r rune) rune {
			if r == '+' || (r >= '0' && r <= '9') {
				return r
			}
			return -1
		}, text), inner)
	case *tg.MessageEntityMentionName:
		if m.User != nil {
			if href := m.User(e.UserID); href != "" {
				link(b, href, inner)
				return
			}
		}
		inner()
	case *tg.MessageEntityMention:
		if m.Username != nil {
			if href := m.Username(strings.TrimPrefix(text, "@")); href != "" {
				link(b, href, inner)
				return
			}
		}
		inner()
	default:
		// Hashtags, cashtags, bot commands, bank cards, custom emoji (whose text is the fallback
		// emoji) and entities of newer layers keep their text.
		inner()
	}
}
