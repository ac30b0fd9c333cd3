package msgconv

import (
	"context"
	"strings"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/format"
	"maunium.net/go/mautrix/id"
)

// ResolveUser maps a mentioned Matrix user (a WhatsApp ghost, or a Matrix user logged in to
// WhatsApp) to their JID; ok is false for anybody WhatsApp cannot mention.
type ResolveUser func(ctx context.Context, user id.UserID) (jid types.JID, ok bool)

const ctxKeyMentioned = "wa_mentioned"

// ToWhatsApp turns a Matrix text message into WhatsApp text: HTML formatting becomes WhatsApp
// markup, pills of WhatsApp users become "@<number>" mentions (returned as JIDs for the
// message's ContextInfo), other pills their display name. Plain messages are sent as they are.
func ToWhatsApp(ctx context.Context, content *event.MessageEventContent, resolve ResolveUser) (text string, mentioned []types.JID) {
	if content.Format != event.FormatHTML || content.FormattedBody == "" {
		text = content.Body
		if content.MsgType == event.MsgEmote {
			text = "/me " + text
		}
		return text, nil
	}
	parser := &format.HTMLParser{
		TabsToSpaces:           4,
		Newline:                "\n",
		HorizontalLine:         "\n---\n",
		BoldConverter:          wrap("*"),
		ItalicConverter:        wrap("_"),
		StrikethroughConverter: wrap("~"),
		MonospaceConverter:     wrap("`"),
		MonospaceBlockConverter: func(code, language string, fctx format.Context) string {
			return "```" + strings.TrimSuffix(code, "\n") + "```"
		},
		PillConverter: func(displayname, mxid, eventID string, fctx format.Context) string {
			if strings.HasPrefix(mxid, "@") && resolve != nil {
				if jid, ok := resolve(fctx.Ctx, id.UserID(mxid)); ok {
					list, _ := fctx.ReturnData[ctxKeyMentioned].([]types.JID)
					if !containsJID(list, jid) {
						fctx.ReturnData[ctxKeyMentioned] = append(list, jid)
					}
					return "@" + jid.User
				}
			}
			return format.DefaultPillConverter(displayname, mxid, eventID, fctx)
		},
	}
	fctx := format.NewContext(ctx)
	text = parser.Parse(content.FormattedBody, fctx)
	mentioned, _ = fctx.ReturnData[ctxKeyMentioned].([]types.JID)
	if content.MsgType == event.MsgEmote {
		text = "/me " + text
	}
	return text, mentioned
}

// wrap puts a WhatsApp marker around text, keeping the surrounding spaces outside the markers
// (WhatsApp ignores "* bold *").
func wrap(marker string) format.TextConverter {
	return func(s string, _ format.Context) string {
		trimmed := strings.TrimSpace(s)
		if trimmed == "" {
			return s
		}
		lead := s[:strings.Index(s, trimmed)]
		trail := s[len(lead)+len(trimmed):]
		return lead + marker + trimmed + marker + trail
	}
}

func containsJID(list []types.JID, jid types.JID) bool {
	for _, v := range list {
		if v == jid {
			return true
		}
	}
	return false
}
