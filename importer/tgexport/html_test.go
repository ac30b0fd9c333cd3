package tgexport

import (
	"strconv"
	"testing"
)

func TestEntitiesHTML(t *testing.T) {
	link := &HTMLOptions{UserLink: func(id int64, username string) string {
		if id != 0 {
			return "https://matrix.to/#/@telegram_" + strconv.FormatInt(id, 10) + ":example.org"
		}
		if username == "nobody" {
			return ""
		}
		return "https://matrix.to/#/@telegram_" + username + ":example.org"
	}}
	tests := []struct {
		name string
		ents []Entity
		opts *HTMLOptions
		want string
	}{
		{"no formatting", []Entity{{Type: "plain", Text: "a < b"}, {Type: "hashtag", Text: "#x"}}, nil, ""},
		{"bold italic", []Entity{{Type: "bold", Text: "B"}, {Type: "plain", Text: " "}, {Type: "italic", Text: "I"}}, nil, "<strong>B</strong> <em>I</em>"},
		{"escaping", []Entity{{Type: "bold", Text: `<script>"&'`}}, nil, "<strong>&lt;script&gt;&#34;&amp;&#39;</strong>"},
		{"newlines", []Entity{{Type: "underline", Text: "a\nb"}, {Type: "plain", Text: "\nc"}}, nil, "<u>a<br>b</u><br>c"},
		{"spoiler", []Entity{{Type: "spoiler", Text: "x"}}, nil, "<span data-mx-spoiler>x</span>"},
		{"strike and code", []Entity{{Type: "strikethrough", Text: "s"}, {Type: "code", Text: "<c>"}}, nil, "<del>s</del><code>&lt;c&gt;</code>"},
		{"pre without language", []Entity{{Type: "pre", Text: "a\n<b>"}}, nil, "<pre><code>a\n&lt;b&gt;</code></pre>"},
		{"pre with language", []Entity{{Type: "pre", Text: "x", Language: "c++"}}, nil, `<pre><code class="language-c++">x</code></pre>`},
		{"pre with hostile language", []Entity{{Type: "pre", Text: "x", Language: `go" onclick="x`}}, nil, "<pre><code>x</code></pre>"},
		{"text link", []Entity{{Type: "text_link", Text: "here", Href: "https://e.org/?a=1&b=\"2\""}}, nil, `<a href="https://e.org/?a=1&amp;b=&#34;2&#34;">here</a>`},
		{"javascript link", []Entity{{Type: "text_link", Text: "x", Href: "javascript:alert(1)"}}, nil, ""},
		{"data link", []Entity{{Type: "text_link", Text: "x", Href: "data:text/html,<b>"}}, nil, ""},
		{"tg link dropped", []Entity{{Type: "text_link", Text: "x", Href: "tg://user?id=1"}}, nil, ""},
		{"bare link", []Entity{{Type: "link", Text: "e.org/a"}}, nil, `<a href="https://e.org/a">e.org/a</a>`},
		{"full link", []Entity{{Type: "link", Text: "http://e.org"}}, nil, `<a href="http://e.org">http://e.org</a>`},
		{"email", []Entity{{Type: "email", Text: "a@e.org"}}, nil, `<a href="mailto:a@e.org">a@e.org</a>`},
		{"phone", []Entity{{Type: "phone", Text: "+33 (6) 12-34"}}, nil, `<a href="tel:+3361234">+33 (6) 12-34</a>`},
		{"blockquote", []Entity{{Type: "blockquote", Text: "q\nr", Collapsed: true}}, nil, "<blockquote>q<br>r</blockquote>"},
		{"mention_name without hook", []Entity{{Type: "mention_name", Text: "Ann", UserID: 5}}, nil, ""},
		{"mention_name with hook", []Entity{{Type: "mention_name", Text: "Ann", UserID: 5}}, link, `<a href="https://matrix.to/#/@telegram_5:example.org">Ann</a>`},
		{"mention with hook", []Entity{{Type: "mention", Text: "@ann"}}, link, `<a href="https://matrix.to/#/@telegram_ann:example.org">@ann</a>`},
		{"mention hook declines", []Entity{{Type: "mention", Text: "@nobody"}}, link, ""},
		{"custom emoji", []Entity{{Type: "custom_emoji", Text: "🙂", DocumentID: "1"}}, nil, ""},
		{"unknown type", []Entity{{Type: "future", Text: "<x>"}, {Type: "bold", Text: "y"}}, nil, "&lt;x&gt;<strong>y</strong>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := EntitiesHTML(tc.ents, tc.opts)
			if got != tc.want {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
			if got != "" {
				checkHTML(t, got)
			}
		})
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+33 6 12 34 56 78", "+33612345678"},
		{"33612345678", "+33612345678"},
		{"0033 6 12 34 56 78", "+33612345678"},
		{"+1 (415) 555-0134", "+14155550134"},
		{"0612345678", ""},
		{"12345", ""},
		{"", ""},
		{"call me", ""},
	}
	for _, tc := range tests {
		if got := NormalizePhone(tc.in); got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
