package msgconv

import (
	"testing"

	"github.com/gotd/td/tg"
)

func TestFromTelegram(t *testing.T) {
	mentions := Mentions{
		User: func(id int64) string {
			if id == 42 {
				return "https://matrix.to/#/@passerelle_tg.42:example.org"
			}
			return ""
		},
		Username: func(u string) string {
			if u == "alice" {
				return "https://matrix.to/#/@passerelle_tg.7:example.org"
			}
			return ""
		},
	}
	tests := []struct {
		name     string
		text     string
		entities []tg.MessageEntityClass
		want     string
	}{
		{"plain", "hello <world>", nil, ""},
		{"plain with newline", "a\nb", nil, ""},
		{"hashtag only stays plain", "#tag", []tg.MessageEntityClass{&tg.MessageEntityHashtag{Offset: 0, Length: 4}}, ""},
		{"bold", "hi bold", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 3, Length: 4}}, "hi <strong>bold</strong>"},
		{"italic underline strike", "abc", []tg.MessageEntityClass{
			&tg.MessageEntityItalic{Offset: 0, Length: 1},
			&tg.MessageEntityUnderline{Offset: 1, Length: 1},
			&tg.MessageEntityStrike{Offset: 2, Length: 1},
		}, "<em>a</em><u>b</u><del>c</del>"},
		{"nested", "bold italic", []tg.MessageEntityClass{
			&tg.MessageEntityItalic{Offset: 5, Length: 6},
			&tg.MessageEntityBold{Offset: 0, Length: 11},
		}, "<strong>bold <em>italic</em></strong>"},
		{"overlap is split", "abcdef", []tg.MessageEntityClass{
			&tg.MessageEntityBold{Offset: 0, Length: 4},
			&tg.MessageEntityItalic{Offset: 2, Length: 4},
		}, "<strong>ab<em>cd</em></strong><em>ef</em>"},
		{"spoiler", "secret", []tg.MessageEntityClass{&tg.MessageEntitySpoiler{Offset: 0, Length: 6}}, "<span data-mx-spoiler>secret</span>"},
		{"code escapes", "x <b>", []tg.MessageEntityClass{&tg.MessageEntityCode{Offset: 2, Length: 3}}, "x <code>&lt;b&gt;</code>"},
		{"pre with language keeps newlines", "f()\ng()", []tg.MessageEntityClass{&tg.MessageEntityPre{Offset: 0, Length: 7, Language: "go"}},
			`<pre><code class="language-go">f()` + "\n" + `g()</code></pre>`},
		{"pre without language", "x", []tg.MessageEntityClass{&tg.MessageEntityPre{Offset: 0, Length: 1}}, "<pre><code>x</code></pre>"},
		{"text link", "see here", []tg.MessageEntityClass{&tg.MessageEntityTextURL{Offset: 4, Length: 4, URL: "https://x.org/?a=1&b=2"}},
			`see <a href="https://x.org/?a=1&amp;b=2">here</a>`},
		{"bare url gets scheme", "go example.com", []tg.MessageEntityClass{&tg.MessageEntityURL{Offset: 3, Length: 11}},
			`go <a href="https://example.com">example.com</a>`},
		{"email", "a@b.c", []tg.MessageEntityClass{&tg.MessageEntityEmail{Offset: 0, Length: 5}}, `<a href="mailto:a@b.c">a@b.c</a>`},
		{"phone", "+33 6 12", []tg.MessageEntityClass{&tg.MessageEntityPhone{Offset: 0, Length: 8}}, `<a href="tel:+33612">+33 6 12</a>`},
		{"text mention becomes pill", "hi Bob", []tg.MessageEntityClass{&tg.MessageEntityMentionName{Offset: 3, Length: 3, UserID: 42}},
			`hi <a href="https://matrix.to/#/@passerelle_tg.42:example.org">Bob</a>`},
		{"unknown text mention stays text", "hi Bob", []tg.MessageEntityClass{&tg.MessageEntityMentionName{Offset: 3, Length: 3, UserID: 1}}, ""},
		{"username mention becomes pill", "@alice hi", []tg.MessageEntityClass{&tg.MessageEntityMention{Offset: 0, Length: 6}},
			`<a href="https://matrix.to/#/@passerelle_tg.7:example.org">@alice</a> hi`},
		{"blockquote", "quote\nreply", []tg.MessageEntityClass{&tg.MessageEntityBlockquote{Offset: 0, Length: 6}}, "<blockquote>quote<br/></blockquote>reply"},
		{"custom emoji falls back to its emoji", "ok 👍", []tg.MessageEntityClass{&tg.MessageEntityCustomEmoji{Offset: 3, Length: 2, DocumentID: 5}, &tg.MessageEntityBold{Offset: 0, Length: 2}},
			"<strong>ok</strong> 👍"},
		{"utf16 offsets after astral emoji", "😀 bold", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 3, Length: 4}}, "😀 <strong>bold</strong>"},
		{"entity past the end is clipped", "abc", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 1, Length: 50}, &tg.MessageEntityItalic{Offset: 10, Length: 1}},
			"a<strong>bc</strong>"},
		{"newlines become br", "a\n*b*", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 2, Length: 3}}, "a<br/><strong>*b*</strong>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := FromTelegram(tc.text, tc.entities, mentions)
			if got.Body != tc.text {
				t.Errorf("body = %q, want %q", got.Body, tc.text)
			}
			if got.HTML != tc.want {
				t.Errorf("html =\n%q\nwant\n%q", got.HTML, tc.want)
			}
		})
	}
}
