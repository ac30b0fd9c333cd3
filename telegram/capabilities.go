package telegram

import (
	"context"
	"time"

	"go.mau.fi/util/jsontime"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
)

// SetMaxFileSize is the homeserver's upload limit, applied to Telegram downloads.
func (tc *Connector) SetMaxFileSize(maxSize int64) { tc.maxFileSize = maxSize }

func (tc *Connector) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	return &bridgev2.NetworkGeneralCapabilities{}
}

// GetCapabilities tells Matrix clients what a Telegram chat accepts.
func (c *Client) GetCapabilities(ctx context.Context, p *bridgev2.Portal) *event.RoomFeatures {
	fileCaps := func(mimes ...string) *event.FileFeatures {
		m := map[string]event.CapabilitySupportLevel{}
		for _, mt := range mimes {
			m[mt] = event.CapLevelFullySupported
		}
		return &event.FileFeatures{MimeTypes: m, Caption: event.CapLevelFullySupported, MaxCaptionLength: 1024, MaxSize: 2000 << 20}
	}
	return &event.RoomFeatures{
		ID: "fi.passerelle.telegram.capabilities.2026_11",
		Formatting: event.FormattingFeatureMap{
			event.FmtBold: event.CapLevelFullySupported, event.FmtItalic: event.CapLevelFullySupported,
			event.FmtUnderline: event.CapLevelFullySupported, event.FmtStrikethrough: event.CapLevelFullySupported,
			event.FmtInlineCode: event.CapLevelFullySupported, event.FmtCodeBlock: event.CapLevelFullySupported,
			event.FmtSpoiler: event.CapLevelFullySupported, event.FmtBlockquote: event.CapLevelFullySupported,
			event.FmtInlineLink: event.CapLevelFullySupported, event.FmtUserLink: event.CapLevelFullySupported,
			event.FmtSyntaxHighlighting: event.CapLevelFullySupported,
			event.FmtUnorderedList:      event.CapLevelPartialSupport, event.FmtOrderedList: event.CapLevelPartialSupport,
			event.FmtHeaders: event.CapLevelPartialSupport,
		},
		File: event.FileFeatureMap{
			event.MsgImage:      fileCaps("image/jpeg", "image/png", "image/gif", "image/webp"),
			event.MsgVideo:      fileCaps("video/mp4", "video/webm", "video/quicktime"),
			event.MsgAudio:      fileCaps("audio/mpeg", "audio/ogg", "audio/mp4", "audio/wav"),
			event.MsgFile:       fileCaps("*/*"),
			event.CapMsgSticker: fileCaps("image/webp", "image/png", "video/webm"),
			event.CapMsgVoice:   fileCaps("audio/ogg"),
			event.CapMsgGIF:     fileCaps("video/mp4", "image/gif"),
		},
		LocationMessage:     event.CapLevelFullySupported,
		MaxTextLength:       4096,
		Reply:               event.CapLevelFullySupported,
		Edit:                event.CapLevelFullySupported,
		EditMaxAge:          ptr(jsontime.S(48 * time.Hour)),
		Delete:              event.CapLevelFullySupported,
		Reaction:            event.CapLevelFullySupported,
		ReactionCount:       1,
		ReadReceipts:        true,
		TypingNotifications: true,
	}
}
