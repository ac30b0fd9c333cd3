package msgconv

import (
	"context"
	"slices"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

func TestToWhatsApp(t *testing.T) {
	ghost := id.UserID("@passerelle_wa.33611111111:example.org")
	bob := types.NewJID("33611111111", types.DefaultUserServer)
	resolve := func(_ context.Context, u id.UserID) (types.JID, bool) {
		if u == ghost {
			return bob, true
		}
		return types.JID{}, false
	}
	pill := `<a href="https://matrix.to/#/@passerelle_wa.33611111111:example.org">Bob</a>`
	other := `<a href="https://matrix.to/#/@carol:example.org">Carol</a>`
	tests := []struct {
		name      string
		content   event.MessageEventContent
		want      string
		mentioned []types.JID
	}{
		{"plain", event.MessageEventContent{MsgType: event.MsgText, Body: "hi *there*"}, "hi *there*", nil},
		{"emote", event.MessageEventContent{MsgType: event.MsgEmote, Body: "waves"}, "/me waves", nil},
		{"bold", htmlMsg("a <strong>b</strong> c"), "a *b* c", nil},
		{"b tag", htmlMsg("<b>x</b>"), "*x*", nil},
		{"italic", htmlMsg("<em>x</em>"), "_x_", nil},
		{"strike", htmlMsg("<del>x</del>"), "~x~", nil},
		{"code", htmlMsg("<code>ls</code>"), "`ls`", nil},
		{"code block", htmlMsg("<pre><code>a\nb\n</code></pre>"), "```a\nb```", nil},
		{"spaces around markers", htmlMsg("a <strong>x</strong> b"), "a *x* b", nil},
		{"nested", htmlMsg("<strong>a <em>b</em></strong>"), "*a _b_*", nil},
		{"quote", htmlMsg("<blockquote>q</blockquote>after"), "> q\nafter", nil},
		{"list", htmlMsg("<ul><li>a</li><li>b</li></ul>"), "* a\n* b", nil},
		{"ordered", htmlMsg("<ol><li>a</li><li>b</li></ol>"), "1. a\n2. b", nil},
		{"line breaks", htmlMsg("a<br>b"), "a\nb", nil},
		{"entities", htmlMsg("a &lt; b &amp; c"), "a < b & c", nil},
		{"link", htmlMsg(`<a href="https://example.org">site</a>`), "site (https://example.org)", nil},
		{"bare link", htmlMsg(`<a href="https://example.org">https://example.org</a>`), "https://example.org", nil},
		{"mention", htmlMsg("hey " + pill + "!"), "hey @33611111111!", []types.JID{bob}},
		{"mention twice", htmlMsg(pill + " " + pill), "@33611111111 @33611111111", []types.JID{bob}},
		{"non-WhatsApp pill", htmlMsg("hey " + other), "hey Carol", nil},
		{"html emote", event.MessageEventContent{MsgType: event.MsgEmote, Body: "x", Format: event.FormatHTML, FormattedBody: "<em>x</em>"}, "/me _x_", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, mentioned := ToWhatsApp(context.Background(), &tt.content, resolve)
			if got != tt.want {
				t.Errorf("text = %q, want %q", got, tt.want)
			}
			if !slices.Equal(mentioned, tt.mentioned) {
				t.Errorf("mentioned = %v, want %v", mentioned, tt.mentioned)
			}
		})
	}
}

func htmlMsg(s string) event.MessageEventContent {
	return event.MessageEventContent{MsgType: event.MsgText, Body: "fallback", Format: event.FormatHTML, FormattedBody: s}
}

// TestRoundTrip checks that WhatsApp markup survives WhatsApp → Matrix → WhatsApp.
func TestRoundTrip(t *testing.T) {
	for _, in := range []string{"*bold*", "_it_ and ~st~", "`code`", "a *b _c_*"} {
		content := FromWhatsApp(in, nil)
		out, _ := ToWhatsApp(context.Background(), content, nil)
		if out != in {
			t.Errorf("%q → %q → %q", in, content.FormattedBody, out)
		}
	}
}
