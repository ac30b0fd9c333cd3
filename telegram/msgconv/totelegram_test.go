package msgconv

import (
	"reflect"
	"testing"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/id"
)

func TestToTelegram(t *testing.T) {
	bob := &tg.InputUser{UserID: 42, AccessHash: 9}
	resolve := func(mxid id.UserID) (tg.InputUserClass, bool) {
		if mxid == "@passerelle_tg.42:example.org" {
			return bob, true
		}
		return nil, false
	}
	tests := []struct {
		name string
		in   string
		text string
		ents []tg.MessageEntityClass
	}{
		{"plain", "hello", "hello", nil},
		{"entities decoded", "a &amp; b &lt;c&gt;", "a & b <c>", nil},
		{"bold italic", "<strong>b</strong> <em>i</em> <b>B</b>", "b i B", []tg.MessageEntityClass{
			&tg.MessageEntityBold{Offset: 0, Length: 1}, &tg.MessageEntityItalic{Offset: 2, Length: 1}, &tg.MessageEntityBold{Offset: 4, Length: 1}}},
		{"nested", "<strong>x <em>y</em></strong>", "x y", []tg.MessageEntityClass{
			&tg.MessageEntityBold{Offset: 0, Length: 3}, &tg.MessageEntityItalic{Offset: 2, Length: 1}}},
		{"underline strike spoiler", `<u>u</u><del>d</del><span data-mx-spoiler="">s</span>`, "uds", []tg.MessageEntityClass{
			&tg.MessageEntityUnderline{Offset: 0, Length: 1}, &tg.MessageEntityStrike{Offset: 1, Length: 1}, &tg.MessageEntitySpoiler{Offset: 2, Length: 1}}},
		{"inline code keeps markup text", "run <code>a &lt;b&gt;</code>", "run a <b>", []tg.MessageEntityClass{&tg.MessageEntityCode{Offset: 4, Length: 5}}},
		{"pre with language", "<pre><code class=\"language-go\">f()\ng()\n</code></pre>", "f()\ng()", []tg.MessageEntityClass{
			&tg.MessageEntityPre{Offset: 0, Length: 7, Language: "go"}}},
		{"text before pre", "see:<pre><code>x</code></pre>after", "see:\nx\nafter", []tg.MessageEntityClass{&tg.MessageEntityPre{Offset: 5, Length: 1}}},
		{"link", `<a href="https://x.org">site</a>`, "site", []tg.MessageEntityClass{&tg.MessageEntityTextURL{Offset: 0, Length: 4, URL: "https://x.org"}}},
		{"bare link stays text", `<a href="https://x.org">https://x.org</a>`, "https://x.org", nil},
		{"pill of ghost becomes mention", `hi <a href="https://matrix.to/#/@passerelle_tg.42:example.org">Bob</a>!`, "hi Bob!", []tg.MessageEntityClass{
			&tg.InputMessageEntityMentionName{Offset: 3, Length: 3, UserID: bob}}},
		{"escaped pill", `<a href="https://matrix.to/#/%40passerelle_tg.42%3Aexample.org">Bob</a>`, "Bob", []tg.MessageEntityClass{
			&tg.InputMessageEntityMentionName{Offset: 0, Length: 3, UserID: bob}}},
		{"pill of matrix user becomes link", `<a href="https://matrix.to/#/@carol:example.org">Carol</a>`, "Carol", []tg.MessageEntityClass{
			&tg.MessageEntityTextURL{Offset: 0, Length: 5, URL: "https://matrix.to/#/@carol:example.org"}}},
		{"reply fallback dropped", "<mx-reply><blockquote>old</blockquote></mx-reply>new", "new", nil},
		{"paragraphs", "<p>one</p>\n<p>two</p>", "one\n\ntwo", nil},
		{"br", "a<br>b<br/><br/>c", "a\nb\n\nc", nil},
		{"blockquote", "<blockquote>q</blockquote>r", "q\nr", []tg.MessageEntityClass{&tg.MessageEntityBlockquote{Offset: 0, Length: 1}}},
		{"lists", "<ul><li>a</li><li>b</li></ul><ol start=\"3\"><li>c</li></ol>", "• a\n• b\n3. c", nil},
		{"heading bold", "<h1>Title</h1><p>x</p>", "Title\nx", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 0, Length: 5}}},
		{"utf16 offsets", "😀 <b>x</b>", "😀 x", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 3, Length: 1}}},
		{"bold after paragraph starts after the break", "<p>a</p><p><b>b</b></p>", "a\n\nb", []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 3, Length: 1}}},
		{"image alt", `<img alt=":cat:" src="mxc://x/y">`, ":cat:", nil},
		{"empty bold dropped", "<b></b>x", "x", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ToTelegram(tc.in, resolve)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != tc.text {
				t.Errorf("text = %q, want %q", got.Text, tc.text)
			}
			if !reflect.DeepEqual(got.Entities, tc.ents) {
				t.Errorf("entities = %#v\nwant %#v", got.Entities, tc.ents)
			}
		})
	}
}

// TestRoundTrip checks that Telegram → Matrix → Telegram keeps text and formatting.
func TestRoundTrip(t *testing.T) {
	text := "bold italic code 😀 link"
	ents := []tg.MessageEntityClass{
		&tg.MessageEntityBold{Offset: 0, Length: 11},
		&tg.MessageEntityItalic{Offset: 5, Length: 6},
		&tg.MessageEntityCode{Offset: 12, Length: 4},
		&tg.MessageEntityTextURL{Offset: 20, Length: 4, URL: "https://x.org"},
	}
	f := FromTelegram(text, ents, Mentions{})
	back, err := ToTelegram(f.HTML, nil)
	if err != nil {
		t.Fatal(err)
	}
	if back.Text != text || !reflect.DeepEqual(back.Entities, ents) {
		t.Fatalf("round trip: %q %#v\nfrom html %s", back.Text, back.Entities, f.HTML)
	}
}
