package msgconv

import (
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/id"
)

// entityBounds returns offset and length of the entity kinds the converters produce.
func entityBounds(e tg.MessageEntityClass) (int, int) {
	return e.GetOffset(), e.GetLength()
}

// FuzzToTelegram: whatever HTML a Matrix client sends, the converter must not panic, and every
// entity it produces must lie inside the text (Telegram refuses the message otherwise).
func FuzzToTelegram(f *testing.F) {
	for _, seed := range []string{
		"<strong>bold</strong> and <em>it</em>",
		"<pre><code class=\"language-go\">x := 1</code></pre>",
		"<a href=\"https://example.org\">link</a> <code>c</code>",
		"<blockquote>q</blockquote><ul><li>a</li><li>b</li></ul>",
		"<mx-reply><blockquote>old</blockquote></mx-reply>reply",
		"<a href=\"https://matrix.to/#/@passerelle_tg.5000:example.org\">Bob</a>",
		"<span data-mx-spoiler>secret</span> 👍🏽 <del>x</del><u>y</u>",
		"<strong><em>unclosed",
		"",
	} {
		f.Add(seed)
	}
	resolver := func(mxid id.UserID) (tg.InputUserClass, bool) {
		if strings.Contains(string(mxid), "tg.") {
			return &tg.InputUser{UserID: 5000, AccessHash: 1}, true
		}
		return nil, false
	}
	f.Fuzz(func(t *testing.T, html string) {
		out, err := ToTelegram(html, resolver)
		if err != nil {
			return
		}
		if !utf8.ValidString(out.Text) && utf8.ValidString(html) {
			t.Fatalf("text %q is not valid UTF-8 for valid input", out.Text)
		}
		n := len(utf16.Encode([]rune(out.Text)))
		for _, e := range out.Entities {
			off, l := entityBounds(e)
			if off < 0 || l < 0 || off+l > n {
				t.Fatalf("entity %T at %d+%d outside text of %d UTF-16 units (%q from %q)", e, off, l, n, out.Text, html)
			}
		}
		// What was produced converts back without panicking.
		_ = FromTelegram(out.Text, out.Entities, Mentions{})
	})
}

// FuzzFromTelegram: entities from Telegram may overlap, nest or point past the text; the
// converter must keep the text as the body and never panic.
func FuzzFromTelegram(f *testing.F) {
	f.Add("hello bold world", 0, 6, 4, 2, 0, 16)
	f.Add("👍🏽 emoji first", 1, 0, 4, 3, 2, 8)
	f.Add("x", 5, 0, 10, 6, -1, 3)
	f.Add("", 0, 0, 0, 0, 0, 0)
	f.Fuzz(func(t *testing.T, text string, k1, o1, l1, k2, o2, l2 int) {
		mk := func(kind, off, l int) tg.MessageEntityClass {
			switch ((kind % 8) + 8) % 8 {
			case 0:
				return &tg.MessageEntityBold{Offset: off, Length: l}
			case 1:
				return &tg.MessageEntityItalic{Offset: off, Length: l}
			case 2:
				return &tg.MessageEntityPre{Offset: off, Length: l, Language: "go"}
			case 3:
				return &tg.MessageEntityTextURL{Offset: off, Length: l, URL: "https://example.org/?a=<b>"}
			case 4:
				return &tg.MessageEntityMentionName{Offset: off, Length: l, UserID: 5000}
			case 5:
				return &tg.MessageEntityCode{Offset: off, Length: l}
			case 6:
				return &tg.MessageEntitySpoiler{Offset: off, Length: l}
			default:
				return &tg.MessageEntityBlockquote{Offset: off, Length: l}
			}
		}
		mentions := Mentions{
			User:     func(int64) string { return "https://matrix.to/#/@passerelle_tg.5000:example.org" },
			Username: func(string) string { return "" },
		}
		out := FromTelegram(text, []tg.MessageEntityClass{mk(k1, o1, l1), mk(k2, o2, l2)}, mentions)
		if out.Body != text {
			t.Fatalf("body %q changed from text %q", out.Body, text)
		}
		if strings.Contains(out.HTML, "<script") {
			t.Fatalf("HTML carries a script tag: %q", out.HTML)
		}
	})
}
