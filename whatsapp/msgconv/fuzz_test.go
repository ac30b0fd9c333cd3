package msgconv

import (
	"context"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// FuzzFromWhatsApp: any text a WhatsApp user types converts without panicking, keeps a body,
// and its HTML converts back to WhatsApp markup without panicking either.
func FuzzFromWhatsApp(f *testing.F) {
	for _, seed := range []string{
		"*bold* _italic_ ~strike~ ```mono```",
		"> quote\n- item\n1. first",
		"@33612345678 hello",
		"`inline` *unclosed _nested *deep*_",
		"<script>alert(1)</script> & é 👍🏽",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		content := FromWhatsApp(text, Mentions{})
		if content == nil {
			t.Fatal("nil content")
		}
		if text != "" && content.Body == "" {
			t.Fatalf("body lost for %q", text)
		}
		if strings.Contains(content.FormattedBody, "<script") {
			t.Fatalf("HTML carries a script tag: %q", content.FormattedBody)
		}
		_, _ = ToWhatsApp(context.Background(), content, nil)
	})
}

// FuzzToWhatsApp: any HTML from a Matrix client converts without panicking; mentions are only
// reported for users the resolver knows.
func FuzzToWhatsApp(f *testing.F) {
	for _, seed := range []string{
		"<strong>b</strong> <em>i</em> <del>s</del> <code>c</code>",
		"<pre><code>block</code></pre><blockquote>q</blockquote>",
		"<a href=\"https://matrix.to/#/@passerelle_wa.33612345678:example.org\">Zoé</a> salut",
		"<ol><li>a</li><li><ul><li>nested</li></ul></li></ol>",
		"<mx-reply><blockquote>old</blockquote></mx-reply>new",
		"<strong><em>unclosed",
	} {
		f.Add(seed)
	}
	resolve := func(_ context.Context, user id.UserID) (types.JID, bool) {
		if strings.Contains(string(user), "wa.33612345678") {
			return types.NewJID("33612345678", types.DefaultUserServer), true
		}
		return types.JID{}, false
	}
	f.Fuzz(func(t *testing.T, html string) {
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: "fallback", Format: event.FormatHTML, FormattedBody: html}
		_, mentioned := ToWhatsApp(context.Background(), content, resolve)
		for _, jid := range mentioned {
			if jid.User != "33612345678" {
				t.Fatalf("mention %s was never resolvable", jid)
			}
		}
	})
}
