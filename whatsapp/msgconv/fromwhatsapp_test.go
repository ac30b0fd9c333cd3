package msgconv

import (
	"testing"

	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestFromWhatsApp(t *testing.T) {
	alice := Pill{UserID: "@passerelle_wa.33611111111:example.org", Name: "Alice"}
	mentions := Mentions{"33611111111": alice}
	tests := []struct {
		name      string
		in        string
		body      string
		html      string // "" means no formatted_body
		mentioned []id.UserID
	}{
		{"plain", "hello world", "hello world", "", nil},
		{"plain with html chars", "a < b & c", "a < b & c", "", nil},
		{"multi-line plain", "one\ntwo", "one\ntwo", "", nil},
		{"bold", "this is *bold*", "this is *bold*", "this is <strong>bold</strong>", nil},
		{"italic", "_it_ here", "_it_ here", "<em>it</em> here", nil},
		{"strike", "~gone~", "~gone~", "<del>gone</del>", nil},
		{"inline code", "run `ls -l` now", "run `ls -l` now", "run <code>ls -l</code> now", nil},
		{"code keeps markers", "`*not bold*`", "`*not bold*`", "<code>*not bold*</code>", nil},
		{"nested", "*bold _and italic_*", "*bold _and italic_*", "<strong>bold <em>and italic</em></strong>", nil},
		{"punctuation after", "(*x*).", "(*x*).", "(<strong>x</strong>).", nil},
		{"space after opener is literal", "* not bold*", "* not bold*", "<ul><li>not bold*</li></ul>", nil},
		{"inside word is literal", "2*3*4", "2*3*4", "", nil},
		{"snake_case is literal", "some_var_name", "some_var_name", "", nil},
		{"unclosed", "*open", "*open", "", nil},
		{"no newline inside markers", "*a\nb*", "*a\nb*", "", nil},
		{"escape inside bold", "*<b>*", "*<b>*", "<strong>&lt;b&gt;</strong>", nil},
		{"code block", "see\n```\nfunc main() {}\n```\nok", "see\n```\nfunc main() {}\n```\nok",
			"see<pre><code>func main() {}\n</code></pre>ok", nil},
		{"code block escapes", "```<x>```", "```<x>```", "<pre><code>&lt;x&gt;</code></pre>", nil},
		{"quote", "> quoted\n> twice\nafter", "> quoted\n> twice\nafter",
			"<blockquote>quoted<br/>twice</blockquote>after", nil},
		{"bullets", "list:\n- one\n- *two*", "list:\n- one\n- *two*",
			"list:<ul><li>one</li><li><strong>two</strong></li></ul>", nil},
		{"star bullets", "* a\n* b", "* a\n* b", "<ul><li>a</li><li>b</li></ul>", nil},
		{"numbered", "1. first\n2. second", "1. first\n2. second", "<ol><li>first</li><li>second</li></ol>", nil},
		{"mention", "hi @33611111111!", "hi Alice!",
			`hi <a href="https://matrix.to/#/@passerelle_wa.33611111111:example.org">Alice</a>!`, []id.UserID{alice.UserID}},
		{"unknown mention stays text", "hi @33699999999", "hi @33699999999", "", nil},
		{"mention twice listed once", "@33611111111 @33611111111", "Alice Alice",
			`<a href="https://matrix.to/#/@passerelle_wa.33611111111:example.org">Alice</a> <a href="https://matrix.to/#/@passerelle_wa.33611111111:example.org">Alice</a>`,
			[]id.UserID{alice.UserID}},
		{"mention in bold", "*@33611111111*", "*Alice*",
			`<strong><a href="https://matrix.to/#/@passerelle_wa.33611111111:example.org">Alice</a></strong>`, []id.UserID{alice.UserID}},
		{"emoji around", "🎉*yay*🎉", "🎉*yay*🎉", "", nil},
		{"unicode bold", "*çà va*", "*çà va*", "<strong>çà va</strong>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := FromWhatsApp(tt.in, mentions)
			if got.MsgType != event.MsgText {
				t.Errorf("msgtype = %s, want m.text", got.MsgType)
			}
			if got.Body != tt.body {
				t.Errorf("body = %q, want %q", got.Body, tt.body)
			}
			if got.FormattedBody != tt.html {
				t.Errorf("formatted_body = %q, want %q", got.FormattedBody, tt.html)
			}
			if (got.Format == event.FormatHTML) != (tt.html != "") {
				t.Errorf("format = %q with formatted_body %q", got.Format, got.FormattedBody)
			}
			if got.Mentions == nil || len(got.Mentions.UserIDs) != len(tt.mentioned) {
				t.Fatalf("mentions = %+v, want %v", got.Mentions, tt.mentioned)
			}
			for i := range tt.mentioned {
				if got.Mentions.UserIDs[i] != tt.mentioned[i] {
					t.Errorf("mention %d = %s, want %s", i, got.Mentions.UserIDs[i], tt.mentioned[i])
				}
			}
		})
	}
}
