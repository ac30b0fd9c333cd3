package waexport

import (
	"bytes"
	"html"
	"os"
	"strings"
	"testing"
)

// checkHTML fails when s is not balanced, escaped HTML.
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
			if name, ok := strings.CutPrefix(tag, "/"); ok {
				if len(stack) == 0 || stack[len(stack)-1] != name {
					t.Fatalf("closing %s does not match %v in %q", name, stack, s)
				}
				stack = stack[:len(stack)-1]
				continue
			}
			if tag != "br" {
				stack = append(stack, tag)
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

// visibleText strips tags and unescapes.
func visibleText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if s[i] == '<' {
			j := strings.IndexByte(s[i:], '>')
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

func isSubsequence(sub, s string) bool {
	i := 0
	for j := 0; i < len(sub) && j < len(s); j++ {
		if sub[i] == s[j] {
			i++
		}
	}
	return i == len(sub)
}

func FuzzFormatHTML(f *testing.F) {
	for _, s := range []string{"*a* _b_ ~c~", "```\ncode\n```", "> q\n- l\n1. o", "`x` ```y```", "*_~`"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := FormatHTML(s)
		if out == "" {
			return
		}
		checkHTML(t, out)
		if vis := visibleText(out); !isSubsequence(vis, s) {
			t.Fatalf("output text %q is not taken from input %q", vis, s)
		}
	})
}

func checkExport(t *testing.T, exp *Export) {
	if len(exp.Messages) == 0 {
		t.Fatal("no messages and no error")
	}
	keys := map[string]bool{}
	last := 0
	for _, m := range exp.Messages {
		if keys[m.Key] || !strings.HasPrefix(m.Key, "wa:") {
			t.Fatalf("bad or duplicate key %q", m.Key)
		}
		keys[m.Key] = true
		if m.Line <= last {
			t.Fatalf("lines not increasing: %d after %d", m.Line, last)
		}
		last = m.Line
		if m.Text.HTML != "" {
			checkHTML(t, m.Text.HTML)
		}
	}
}

func FuzzParseText(f *testing.F) {
	for _, name := range []string{"ios_us_12h.txt", "android_dotted.txt", "crlf_bom.txt"} {
		data, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		exp, err := Parse(bytes.NewReader(data), Options{})
		if err != nil {
			if exp != nil {
				t.Fatal("partial result with an error")
			}
			return
		}
		checkExport(t, exp)
	})
}

func FuzzParseZip(f *testing.F) {
	data, err := os.ReadFile("testdata/WhatsApp Chat - Family Lopez.zip")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Fuzz(func(t *testing.T, data []byte) {
		exp, err := ParseZip(bytes.NewReader(data), int64(len(data)), Options{Name: "x.zip"})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "x.zip") {
				t.Fatalf("error does not name the zip: %v", err)
			}
			return
		}
		checkExport(t, exp)
	})
}
