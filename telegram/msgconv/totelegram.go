package msgconv

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"unicode/utf16"

	"github.com/gotd/td/tg"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"maunium.net/go/mautrix/id"
)

// MentionResolver turns a Matrix user pill into the Telegram user to mention; ok is false for
// users that are not Telegram ghosts (their pill stays as text).
type MentionResolver func(mxid id.UserID) (user tg.InputUserClass, ok bool)

// Telegram is a message text ready for messages.sendMessage.
type Telegram struct {
	Text     string
	Entities []tg.MessageEntityClass
}

// ToTelegram converts Matrix HTML (formatted_body) to Telegram text with entities. Replies'
// fallbacks (<mx-reply>) are dropped, pills of Telegram ghosts become mentions, lists and
// headings become text with markers.
func ToTelegram(formatted string, mentions MentionResolver) (Telegram, error) {
	nodes, err := html.ParseFragment(strings.NewReader(formatted), &html.Node{Type: html.ElementNode, Data: "body", DataAtom: atom.Body})
	if err != nil {
		return Telegram{}, fmt.Errorf("parse Matrix HTML: %w", err)
	}
	c := &converter{mentions: mentions}
	for _, n := range nodes {
		c.walk(n)
	}
	return c.finish(), nil
}

// PlainToTelegram is the Telegram form of an unformatted Matrix body.
func PlainToTelegram(body string) Telegram { return Telegram{Text: body} }

type converter struct {
	mentions MentionResolver
	out      []uint16
	pending  int // newlines owed before the next text
	inPre    int
	entities []tg.MessageEntityClass
	lists    []*listState
	open     []*int // starts of the entities being written, -1 until their first text
}

type listState struct {
	ordered bool
	n       int
}

func (c *converter) write(s string) {
	if s == "" {
		return
	}
	if len(c.out) > 0 {
		for ; c.pending > 0; c.pending-- {
			c.out = append(c.out, '\n')
		}
	}
	c.pending = 0
	for _, start := range c.open {
		if *start < 0 {
			*start = len(c.out)
		}
	}
	c.out = append(c.out, utf16.Encode([]rune(s))...)
}

// block ends the current line before a block element and owes n newlines after it.
func (c *converter) blockStart() {
	if len(c.out) > 0 && c.out[len(c.out)-1] != '\n' && c.pending == 0 {
		c.pending = 1
	}
}

func (c *converter) blockEnd(n int) {
	if n > c.pending {
		c.pending = n
	}
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

// span wraps the output of n's children in an entity built by mk. The entity starts at the
// first character written inside it, after any line breaks owed by earlier blocks.
func (c *converter) span(n *html.Node, mk func(offset, length int) tg.MessageEntityClass) {
	idx := len(c.entities)
	c.entities = append(c.entities, nil)
	start := -1
	c.open = append(c.open, &start)
	c.children(n)
	c.open = c.open[:len(c.open)-1]
	if start >= 0 && len(c.out) > start {
		c.entities[idx] = mk(start, len(c.out)-start)
	}
}

func (c *converter) children(n *html.Node) {
	for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
		c.walk(ch)
	}
}

func (c *converter) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		text := n.Data
		if c.inPre == 0 {
			if strings.TrimSpace(text) == "" && strings.Contains(text, "\n") {
				return
			}
			text = strings.ReplaceAll(text, "\n", " ")
		}
		c.write(text)
		return
	case html.ElementNode:
	default:
		c.children(n)
		return
	}
	switch n.Data {
	case "mx-reply", "script", "style", "head":
		return
	case "br":
		c.pending++
	case "strong", "b":
		c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityBold{Offset: o, Length: l} })
	case "em", "i":
		c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityItalic{Offset: o, Length: l} })
	case "u", "ins":
		c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityUnderline{Offset: o, Length: l} })
	case "del", "s", "strike":
		c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityStrike{Offset: o, Length: l} })
	case "code":
		if c.inPre > 0 {
			c.children(n)
			return
		}
		c.inPre++
		c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityCode{Offset: o, Length: l} })
		c.inPre--
	case "pre":
		lang := ""
		if code := n.FirstChild; code != nil && code.Type == html.ElementNode && code.Data == "code" {
			if class, ok := attr(code, "class"); ok {
				for _, cl := range strings.Fields(class) {
					if strings.HasPrefix(cl, "language-") {
						lang = strings.TrimPrefix(cl, "language-")
					}
				}
			}
		}
		c.blockStart()
		c.inPre++
		c.span(n, func(o, l int) tg.MessageEntityClass {
			return &tg.MessageEntityPre{Offset: o, Length: l, Language: lang}
		})
		c.inPre--
		c.trimTrailingNewline()
		c.blockEnd(1)
	case "blockquote":
		c.blockStart()
		c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityBlockquote{Offset: o, Length: l} })
		c.blockEnd(1)
	case "span":
		if _, ok := attr(n, "data-mx-spoiler"); ok {
			c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntitySpoiler{Offset: o, Length: l} })
			return
		}
		c.children(n)
	case "a":
		c.anchor(n)
	case "img":
		if alt, ok := attr(n, "alt"); ok {
			c.write(alt)
		}
	case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6":
		c.blockStart()
		if strings.HasPrefix(n.Data, "h") {
			c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityBold{Offset: o, Length: l} })
		} else {
			c.children(n)
		}
		c.blockEnd(map[bool]int{true: 2, false: 1}[n.Data == "p"])
	case "ul", "ol":
		c.blockStart()
		c.lists = append(c.lists, &listState{ordered: n.Data == "ol", n: startOf(n)})
		c.children(n)
		c.lists = c.lists[:len(c.lists)-1]
		c.blockEnd(1)
	case "li":
		c.blockStart()
		marker := "• "
		if len(c.lists) > 0 {
			l := c.lists[len(c.lists)-1]
			if l.ordered {
				marker = fmt.Sprintf("%d. ", l.n)
				l.n++
			}
			marker = strings.Repeat("    ", len(c.lists)-1) + marker
		}
		c.write(marker)
		c.children(n)
		c.blockEnd(1)
	case "hr":
		c.blockStart()
		c.write("———")
		c.blockEnd(1)
	default:
		c.children(n)
	}
}

func startOf(n *html.Node) int {
	if v, ok := attr(n, "start"); ok {
		var s int
		if _, err := fmt.Sscan(v, &s); err == nil {
			return s
		}
	}
	return 1
}

func (c *converter) trimTrailingNewline() {
	for len(c.out) > 0 && c.out[len(c.out)-1] == '\n' {
		c.out = c.out[:len(c.out)-1]
	}
}

// anchor handles links: pills of Telegram users become mentions, other links text URLs.
func (c *converter) anchor(n *html.Node) {
	href, _ := attr(n, "href")
	if mxid, ok := pillUser(href); ok && c.mentions != nil {
		if user, ok := c.mentions(mxid); ok {
			c.span(n, func(o, l int) tg.MessageEntityClass {
				return &tg.InputMessageEntityMentionName{Offset: o, Length: l, UserID: user}
			})
			return
		}
	}
	if href == "" || textOf(n) == href || textOf(n) == strings.TrimPrefix(href, "mailto:") {
		// Telegram links bare URLs and e-mail addresses itself.
		c.children(n)
		return
	}
	c.span(n, func(o, l int) tg.MessageEntityClass { return &tg.MessageEntityTextURL{Offset: o, Length: l, URL: href} })
}

func textOf(n *html.Node) string {
	var b strings.Builder
	var f func(*html.Node)
	f = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for ch := n.FirstChild; ch != nil; ch = ch.NextSibling {
			f(ch)
		}
	}
	f(n)
	return b.String()
}

// pillUser returns the user of a matrix.to (or matrix:) user link.
func pillUser(href string) (id.UserID, bool) {
	u, err := url.Parse(href)
	if err != nil {
		return "", false
	}
	var target string
	switch {
	case u.Scheme == "https" && u.Host == "matrix.to":
		target = strings.TrimPrefix(u.Fragment, "/")
		target, _, _ = strings.Cut(target, "?")
	case u.Scheme == "matrix" && strings.HasPrefix(u.Opaque, "u/"):
		target = "@" + strings.TrimPrefix(u.Opaque, "u/")
		target, _, _ = strings.Cut(target, "?")
	default:
		return "", false
	}
	if unescaped, err := url.PathUnescape(target); err == nil {
		target = unescaped
	}
	uid := id.UserID(target)
	if _, _, err := uid.Parse(); err != nil || !strings.HasPrefix(target, "@") {
		return "", false
	}
	return uid, true
}

func (c *converter) finish() Telegram {
	// Trailing whitespace is dropped; entities are clipped to what is left.
	for len(c.out) > 0 && (c.out[len(c.out)-1] == '\n' || c.out[len(c.out)-1] == ' ') {
		c.out = c.out[:len(c.out)-1]
	}
	var ents []tg.MessageEntityClass
	for _, e := range c.entities {
		if e == nil {
			continue
		}
		off, length := e.GetOffset(), e.GetLength()
		if off >= len(c.out) {
			continue
		}
		if off+length > len(c.out) {
			length = len(c.out) - off
		}
		ents = append(ents, withRange(e, off, length))
	}
	sort.SliceStable(ents, func(i, j int) bool { return ents[i].GetOffset() < ents[j].GetOffset() })
	return Telegram{Text: string(utf16.Decode(c.out)), Entities: ents}
}

// withRange returns e with a new length (offsets never change after creation).
func withRange(e tg.MessageEntityClass, off, length int) tg.MessageEntityClass {
	if e.GetLength() == length {
		return e
	}
	switch e := e.(type) {
	case *tg.MessageEntityBold:
		e.Length = length
	case *tg.MessageEntityItalic:
		e.Length = length
	case *tg.MessageEntityUnderline:
		e.Length = length
	case *tg.MessageEntityStrike:
		e.Length = length
	case *tg.MessageEntityCode:
		e.Length = length
	case *tg.MessageEntityPre:
		e.Length = length
	case *tg.MessageEntityBlockquote:
		e.Length = length
	case *tg.MessageEntitySpoiler:
		e.Length = length
	case *tg.MessageEntityTextURL:
		e.Length = length
	case *tg.InputMessageEntityMentionName:
		e.Length = length
	}
	return e
}
