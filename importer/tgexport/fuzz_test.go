package tgexport

import (
	"bytes"
	"html"
	"os"
	"strings"
	"testing"
)

// checkHTML fails when s is not balanced, escaped Matrix HTML: every tag
// closed in order, no raw '<', '>' or quotes in text.
func checkHTML(t *testing.T, s string) {
	t.Helper()
	var stack []string
	for i := 0; i < len(s); {
		switch s[i] {
		case '<':
			j := strings.IndexByte(s[i:], '>')
			if j < 0 {
				t.Fatalf("unterminated tag in %q", s)
			}
			tag := s[i+1 : i+j]
			i += j + 1
			if strings.HasPrefix(tag, "/") {
				name := tag[1:]
				if len(stack) == 0 || stack[len(stack)-1] != name {
					t.Fatalf("closing %s does not match %v in %q", name, stack, s)
				}
				stack = stack[:len(stack)-1]
				continue
			}
			name, _, _ := strings.Cut(tag, " ")
			if strings.ContainsAny(tag, "<") {
				t.Fatalf("'<' inside tag %q", tag)
			}
			if name != "br" {
				stack = append(stack, name)
			}
		case '>', '"', '\'':
			t.Fatalf("unescaped %q in text of %q", s[i], s)
		default:
			i++
		}
	}
	if len(stack) != 0 {
		t.Fatalf("unclosed %v in %q", stack, s)
	}
}

// htmlText strips tags and unescapes, turning <br> back into newlines.
func htmlText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '<' {
			j := strings.IndexByte(s[i:], '>')
			if s[i+1:i+j] == "br" {
				b.WriteByte('\n')
			}
			i += j + 1
			continue
		}
		j := strings.IndexByte(s[i:], '<')
		if j < 0 {
			j = len(s) - i
		}
		b.WriteString(s[i : i+j])
		i += j
	}
	return html.UnescapeString(b.String())
}

func FuzzEntitiesHTML(f *testing.F) {
	for _, typ := range []string{"plain", "bold", "pre", "text_link", "link", "email", "phone", "blockquote", "mention_name", "custom_emoji", "weird"} {
		f.Add(typ, "a <b> & \"c\"\nd", "https://example.org/?q=<x>", "go", "tail ' end")
	}
	f.Add("text_link", "x", "javascript:alert(1)", "", "")
	f.Add("pre", "</code></pre><script>", "", `"><img src=x>`, "")
	f.Fuzz(func(t *testing.T, typ, text, href, lang, tail string) {
		ents := []Entity{{Type: typ, Text: text, Href: href, Language: lang, UserID: 42}, {Type: "italic", Text: tail}}
		out := EntitiesHTML(ents, &HTMLOptions{UserLink: func(id int64, name string) string { return "https://matrix.to/#/@tg_" + name + ":example.org" }})
		if out == "" {
			if tail != "" {
				t.Fatalf("italic tail %q lost", tail)
			}
			return
		}
		checkHTML(t, out)
		if got := htmlText(out); got != text+tail {
			t.Fatalf("text changed: %q -> %q (html %q)", text+tail, got, out)
		}
	})
}

func FuzzParseExport(f *testing.F) {
	// The big single-chat fixture is left out: minimising inputs that large
	// stalls the fuzzer. Small seeds live in testdata/fuzz/FuzzParseExport.
	for _, p := range []string{"testdata/account/result.json"} {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, chats, err := ReadAll(bytes.NewReader(data), Options{})
		if err != nil {
			if msgs != nil || chats != nil {
				t.Fatal("partial result with an error")
			}
			if !strings.Contains(err.Error(), "$") {
				t.Fatalf("error without a JSON path: %v", err)
			}
			return
		}
		for _, m := range msgs {
			if !strings.HasPrefix(m.Key, "tg:") || m.Chat == nil {
				t.Fatalf("bad message %+v", m)
			}
			if m.Text.HTML != "" {
				checkHTML(t, m.Text.HTML)
			}
			if m.Media != nil && m.Media.Path != "" {
				if err := checkRelPath(m.Media.Path); err != nil {
					t.Fatal(err)
				}
			}
		}
	})
}
