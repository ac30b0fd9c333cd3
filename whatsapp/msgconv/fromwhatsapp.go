package msgconv

import (
	"html"
	"strings"
	"unicode"
	"unicode/utf8"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// Pill is the Matrix side of a WhatsApp mention: the user it points at and the name shown.
type Pill struct {
	UserID id.UserID
	Name   string
}

// Mentions maps the user part of a mentioned JID (the digits written after "@" in WhatsApp
// text, e.g. "33612345678") to the Matrix user it becomes.
type Mentions map[string]Pill

// FromWhatsApp turns WhatsApp text into a Matrix text message: the body keeps WhatsApp's markup
// but shows mentions by name, and formatted_body carries HTML when the text has any formatting
// or mention. m.mentions lists every mentioned user so they are notified.
func FromWhatsApp(text string, mentions Mentions) *event.MessageEventContent {
	content := &event.MessageEventContent{MsgType: event.MsgText}
	p := &fromParser{mentions: mentions}
	formatted := p.blocks(text)
	content.Body = p.plainBody(text)
	if p.formatted || formatted != escapeText(text) {
		content.Format = event.FormatHTML
		content.FormattedBody = formatted
	}
	if len(p.mentioned) > 0 {
		content.Mentions = &event.Mentions{UserIDs: p.mentioned}
	} else {
		content.Mentions = &event.Mentions{}
	}
	return content
}

type fromParser struct {
	mentions  Mentions
	mentioned []id.UserID
	formatted bool
}

func escapeText(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br/>")
}

// plainBody replaces mentions by names in the unformatted body.
func (p *fromParser) plainBody(text string) string {
	if len(p.mentions) == 0 {
		return text
	}
	var b strings.Builder
	for i := 0; i < len(text); {
		if text[i] == '@' {
			if user, n := p.mentionAt(text[i+1:]); n > 0 {
				b.WriteString(p.mentions[user].Name)
				i += 1 + n
				continue
			}
		}
		b.WriteByte(text[i])
		i++
	}
	return b.String()
}

// mentionAt returns the known mentioned user whose digits start s, and their length.
func (p *fromParser) mentionAt(s string) (string, int) {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n == 0 {
		return "", 0
	}
	if _, ok := p.mentions[s[:n]]; !ok {
		return "", 0
	}
	return s[:n], n
}

const fence = "```"

// blocks splits out ``` code blocks, then formats the lines between them.
func (p *fromParser) blocks(text string) string {
	var out strings.Builder
	for {
		start := strings.Index(text, fence)
		if start < 0 {
			break
		}
		end := strings.Index(text[start+len(fence):], fence)
		if end < 0 {
			break
		}
		code := text[start+len(fence) : start+len(fence)+end]
		if strings.TrimSpace(code) == "" {
			// ``` ``` with nothing inside is literal text.
			out.WriteString(p.lines(text[:start+len(fence)*2+end]))
			text = text[start+len(fence)*2+end:]
			continue
		}
		out.WriteString(p.lines(strings.TrimSuffix(text[:start], "\n")))
		code = strings.TrimPrefix(code, "\n")
		out.WriteString("<pre><code>" + html.EscapeString(code) + "</code></pre>")
		p.formatted = true
		text = strings.TrimPrefix(text[start+len(fence)*2+end:], "\n")
	}
	out.WriteString(p.lines(text))
	return out.String()
}

type lineKind int

const (
	linePlain lineKind = iota
	lineQuote
	lineBullet
	lineNumber
)

// classify recognises a quote, bullet or numbered line and returns its content.
func classify(line string) (lineKind, string) {
	switch {
	case strings.HasPrefix(line, "> "):
		return lineQuote, line[2:]
	case strings.HasPrefix(line, "- "), strings.HasPrefix(line, "* "):
		return lineBullet, line[2:]
	}
	digits := 0
	for digits < len(line) && line[digits] >= '0' && line[digits] <= '9' {
		digits++
	}
	if digits > 0 && digits <= 3 && strings.HasPrefix(line[digits:], ". ") {
		return lineNumber, line[digits+2:]
	}
	return linePlain, line
}

// lines formats text without code blocks: groups of quote/list lines become blocks.
func (p *fromParser) lines(text string) string {
	if text == "" {
		return ""
	}
	lines := strings.Split(text, "\n")
	var out strings.Builder
	needBreak := false
	for i := 0; i < len(lines); {
		kind, _ := classify(lines[i])
		j := i
		var items []string
		for j < len(lines) {
			k, content := classify(lines[j])
			if k != kind {
				break
			}
			items = append(items, content)
			j++
			if kind == linePlain {
				break
			}
		}
		switch kind {
		case linePlain:
			if needBreak {
				out.WriteString("<br/>")
			}
			out.WriteString(p.inline(items[0]))
			needBreak = true
		case lineQuote:
			p.formatted = true
			out.WriteString("<blockquote>")
			for n, item := range items {
				if n > 0 {
					out.WriteString("<br/>")
				}
				out.WriteString(p.inline(item))
			}
			out.WriteString("</blockquote>")
			needBreak = false
		case lineBullet, lineNumber:
			p.formatted = true
			tag := "ul"
			if kind == lineNumber {
				tag = "ol"
			}
			out.WriteString("<" + tag + ">")
			for _, item := range items {
				out.WriteString("<li>" + p.inline(item) + "</li>")
			}
			out.WriteString("</" + tag + ">")
			needBreak = false
		}
		i = j
	}
	return out.String()
}

var markerTags = map[byte]string{'*': "strong", '_': "em", '~': "del", '`': "code"}

// canOpen: a marker opens when it starts the text or follows a space or punctuation, and is
// followed by a non-space.
func canOpen(s string, i int) bool {
	if i+1 >= len(s) || s[i+1] == ' ' || s[i+1] == '\t' || s[i+1] == s[i] {
		return false
	}
	if i == 0 {
		return true
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	return unicode.IsSpace(r) || unicode.IsPunct(r) && r != rune(s[i])
}

// canClose: a marker closes when it follows a non-space and ends the text or precedes a space
// or punctuation.
func canClose(s string, i int) bool {
	if i == 0 || s[i-1] == ' ' || s[i-1] == '\t' {
		return false
	}
	if i+1 == len(s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(s[i+1:])
	return unicode.IsSpace(r) || unicode.IsPunct(r) && r != rune(s[i])
}

// inline formats one line: markers pair up left to right, and nest.
func (p *fromParser) inline(s string) string {
	var out strings.Builder
	plainStart := 0
	for i := 0; i < len(s); i++ {
		tag, ok := markerTags[s[i]]
		if !ok || !canOpen(s, i) {
			continue
		}
		closeAt := -1
		for j := i + 2; j < len(s); j++ {
			if s[j] == s[i] && canClose(s, j) {
				closeAt = j
				break
			}
		}
		if closeAt < 0 {
			continue
		}
		out.WriteString(p.plain(s[plainStart:i]))
		inner := s[i+1 : closeAt]
		if tag == "code" {
			out.WriteString("<code>" + html.EscapeString(inner) + "</code>")
		} else {
			out.WriteString("<" + tag + ">" + p.inline(inner) + "</" + tag + ">")
		}
		p.formatted = true
		i = closeAt
		plainStart = closeAt + 1
	}
	out.WriteString(p.plain(s[plainStart:]))
	return out.String()
}

// plain escapes text and turns known mentions into pills.
func (p *fromParser) plain(s string) string {
	if len(p.mentions) == 0 {
		return html.EscapeString(s)
	}
	var out strings.Builder
	start := 0
	for i := 0; i < len(s); i++ {
		if s[i] != '@' {
			continue
		}
		user, n := p.mentionAt(s[i+1:])
		if n == 0 {
			continue
		}
		pill := p.mentions[user]
		out.WriteString(html.EscapeString(s[start:i]))
		out.WriteString(`<a href="` + html.EscapeString(pill.UserID.URI().MatrixToURL()) + `">` + html.EscapeString(pill.Name) + `</a>`)
		p.formatted = true
		if !containsUser(p.mentioned, pill.UserID) {
			p.mentioned = append(p.mentioned, pill.UserID)
		}
		i += n
		start = i + 1
	}
	out.WriteString(html.EscapeString(s[start:]))
	return out.String()
}

func containsUser(list []id.UserID, u id.UserID) bool {
	for _, v := range list {
		if v == u {
			return true
		}
	}
	return false
}
