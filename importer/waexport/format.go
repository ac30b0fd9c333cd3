package waexport

import (
	"html"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// FormatHTML converts WhatsApp markup to Matrix HTML: *bold*, _italic_,
// ~strikethrough~, `inline code`, ```monospace``` (a block when it spans
// lines and opens at the start of a line), "> " quotes and "- ", "* " and
// "1. " lists. All text is escaped and every tag is closed, whatever the
// input. It returns "" when the text has no formatting, so the plain body
// suffices.
//
// Like WhatsApp, inline markers only count at word boundaries (so
// snake_case_names stay as they are) and do not span lines.
func FormatHTML(s string) string {
	if !strings.ContainsAny(s, "*_~`>-0123456789") {
		return ""
	}
	f := &formatter{}
	f.blocks(strings.Split(s, "\n"))
	if !f.formatted {
		return ""
	}
	return f.b.String()
}

type formatter struct {
	b         strings.Builder
	formatted bool
	// lineOpen is true when the last thing written is inline content
	// that needs a <br> before the next line.
	lineOpen bool
}

var orderedRe = regexp.MustCompile(`^(\d{1,3})\. `)

func listItem(line string) (tag, content string) {
	if strings.HasPrefix(line, "- ") || strings.HasPrefix(line, "* ") {
		return "ul", line[2:]
	}
	if sm := orderedRe.FindStringSubmatch(line); sm != nil {
		return "ol", line[len(sm[0]):]
	}
	return "", ""
}

func (f *formatter) blocks(lines []string) {
	for i := 0; i < len(lines); {
		line := lines[i]
		trimmed := strings.TrimLeft(line, " \t")
		// A code block: ``` at the start of a line, closed on a later one.
		if strings.HasPrefix(trimmed, "```") && !strings.Contains(trimmed[3:], "```") {
			if end := closingFence(lines, i+1); end > 0 {
				var code []string
				code = append(code, trimmed[3:])
				code = append(code, lines[i+1:end]...)
				last, after, _ := strings.Cut(lines[end], "```")
				code = append(code, last)
				if code[0] == "" {
					code = code[1:]
				}
				f.block("<pre><code>" + html.EscapeString(strings.Join(code, "\n")) + "</code></pre>")
				if after != "" {
					lines[end] = after
					i = end
					continue
				}
				i = end + 1
				continue
			}
		}
		if strings.HasPrefix(line, "> ") || line == ">" {
			var quoted []string
			for ; i < len(lines) && (strings.HasPrefix(lines[i], "> ") || lines[i] == ">"); i++ {
				quoted = append(quoted, strings.TrimPrefix(strings.TrimPrefix(lines[i], ">"), " "))
			}
			inner := &formatter{}
			inner.blocks(quoted)
			f.block("<blockquote>" + inner.b.String() + "</blockquote>")
			continue
		}
		if tag, _ := listItem(line); tag != "" {
			var items strings.Builder
			for ; i < len(lines); i++ {
				t, content := listItem(lines[i])
				if t != tag {
					break
				}
				items.WriteString("<li>")
				items.WriteString(inline(content))
				items.WriteString("</li>")
			}
			f.block("<" + tag + ">" + items.String() + "</" + tag + ">")
			continue
		}
		out := inline(line)
		if out != html.EscapeString(line) {
			f.formatted = true
		}
		if f.lineOpen {
			f.b.WriteString("<br>")
		}
		f.b.WriteString(out)
		f.lineOpen = true
		i++
	}
}

// block writes block-level markup, which needs no <br> around it.
func (f *formatter) block(s string) {
	f.b.WriteString(s)
	f.formatted = true
	f.lineOpen = false
}

func closingFence(lines []string, from int) int {
	for j := from; j < len(lines); j++ {
		if strings.Contains(lines[j], "```") {
			return j
		}
	}
	return -1
}

// inline formats one line. Closing positions of each marker are found
// once, so pathological lines stay fast.
func inline(s string) string {
	p := &inlineParser{s: s, closes: map[byte][]int{}}
	for _, c := range []byte("*_~") {
		for i := 0; i < len(s); i++ {
			if s[i] == c && canClose(s, i) {
				p.closes[c] = append(p.closes[c], i)
			}
		}
	}
	var b strings.Builder
	p.render(&b, 0, len(s))
	return b.String()
}

type inlineParser struct {
	s      string
	closes map[byte][]int
}

var tags = map[byte][2]string{
	'*': {"<strong>", "</strong>"},
	'_': {"<em>", "</em>"},
	'~': {"<del>", "</del>"},
}

func (p *inlineParser) render(b *strings.Builder, lo, hi int) {
	s := p.s
	start := lo
	flush := func(to int) {
		b.WriteString(html.EscapeString(s[start:to]))
	}
	noFence, noTick := false, false
	for i := lo; i < hi; {
		c := s[i]
		if (c == 'h' || c == 'w') && (i == lo || !isWord(lastRune(s[:i]))) {
			// Markers inside links are part of the address.
			if j := urlEnd(s, i, hi); j > i {
				i = j
				continue
			}
		}
		switch {
		case c == '`' && !noFence && strings.HasPrefix(s[i:hi], "```"):
			j := strings.Index(s[i+3:hi], "```")
			if j < 0 {
				noFence = true
				break
			}
			if j > 0 {
				flush(i)
				b.WriteString("<code>" + html.EscapeString(s[i+3:i+3+j]) + "</code>")
				i += 3 + j + 3
				start = i
				continue
			}
		case c == '`' && !noTick:
			j := strings.IndexByte(s[i+1:hi], '`')
			if j < 0 {
				noTick = true
				break
			}
			if j > 0 && !strings.HasPrefix(s[i:hi], "``") {
				flush(i)
				b.WriteString("<code>" + html.EscapeString(s[i+1:i+1+j]) + "</code>")
				i += 1 + j + 1
				start = i
				continue
			}
		case (c == '*' || c == '_' || c == '~') && p.canOpen(i, hi):
			if j := p.closeFor(c, i+2, hi); j > 0 {
				flush(i)
				t := tags[c]
				b.WriteString(t[0])
				p.render(b, i+1, j)
				b.WriteString(t[1])
				i = j + 1
				start = i
				continue
			}
		}
		i++
	}
	flush(hi)
}

// canOpen: the marker follows the start or a non-word character and is
// followed by a non-space character.
func (p *inlineParser) canOpen(i, hi int) bool {
	s := p.s
	if i+1 >= hi {
		return false
	}
	if i > 0 {
		r, _ := utf8.DecodeLastRuneInString(s[:i])
		if isWord(r) || r == rune(s[i]) {
			return false
		}
	}
	r, _ := utf8.DecodeRuneInString(s[i+1:])
	return !unicode.IsSpace(r) && r != rune(s[i])
}

// canClose: the marker follows a non-space character and precedes the end
// or a non-word character.
func canClose(s string, i int) bool {
	if i == 0 {
		return false
	}
	r, _ := utf8.DecodeLastRuneInString(s[:i])
	if unicode.IsSpace(r) || r == rune(s[i]) {
		return false
	}
	if i+1 < len(s) {
		r, _ := utf8.DecodeRuneInString(s[i+1:])
		if isWord(r) || r == rune(s[i]) {
			return false
		}
	}
	return true
}

// closeFor returns the first closing position of c in [from, hi), or -1.
func (p *inlineParser) closeFor(c byte, from, hi int) int {
	cs := p.closes[c]
	k := sort.SearchInts(cs, from)
	if k < len(cs) && cs[k] < hi {
		return cs[k]
	}
	return -1
}

// urlEnd returns the end of a link starting at i, or i when none does.
func urlEnd(s string, i, hi int) int {
	rest := s[i:hi]
	if !strings.HasPrefix(rest, "https://") && !strings.HasPrefix(rest, "http://") && !strings.HasPrefix(rest, "www.") {
		return i
	}
	end := strings.IndexAny(rest, " \t")
	if end < 0 {
		end = len(rest)
	}
	return i + end
}

func lastRune(s string) rune {
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

func isWord(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
