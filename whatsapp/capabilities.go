package whatsapp

import (
	"context"
	"time"

	"go.mau.fi/util/jsontime"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
)

// EditWindow is how long after sending WhatsApp accepts an edit.
const EditWindow = 15 * time.Minute

// GetCapabilities describes what WhatsApp can carry bridge-wide.
func (wa *Connector) GetCapabilities() *bridgev2.NetworkGeneralCapabilities {
	// Disappearing messages: bridgev2 deletes expired messages from Matrix rooms.
	return &bridgev2.NetworkGeneralCapabilities{DisappearingMessages: true}
}

var waFormatting = event.FormattingFeatureMap{
	event.FmtBold:          event.CapLevelFullySupported,
	event.FmtItalic:        event.CapLevelFullySupported,
	event.FmtStrikethrough: event.CapLevelFullySupported,
	event.FmtInlineCode:    event.CapLevelFullySupported,
	event.FmtCodeBlock:     event.CapLevelFullySupported,
	event.FmtBlockquote:    event.CapLevelFullySupported,
	event.FmtUnorderedList: event.CapLevelFullySupported,
	event.FmtOrderedList:   event.CapLevelFullySupported,
	event.FmtUserLink:      event.CapLevelFullySupported,
	event.FmtInlineLink:    event.CapLevelPartialSupport,
}

func fileFeature(mimes ...string) *event.FileFeatures {
	m := map[string]event.CapabilitySupportLevel{}
	for _, mime := range mimes {
		m[mime] = event.CapLevelFullySupported
	}
	return &event.FileFeatures{MimeTypes: m, Caption: event.CapLevelFullySupported, MaxSize: 100 * 1024 * 1024}
}

var waRoomFeatures = &event.RoomFeatures{
	ID:         "wa.passerelle.room.v2",
	Formatting: waFormatting,
	File: event.FileFeatureMap{
		event.MsgImage:      fileFeature("image/jpeg", "image/png", "image/webp", "image/gif"),
		event.MsgVideo:      fileFeature("video/mp4", "video/3gpp"),
		event.MsgAudio:      fileFeature("audio/ogg", "audio/mpeg", "audio/mp4", "audio/aac"),
		event.MsgFile:       fileFeature("*/*"),
		event.CapMsgSticker: fileFeature("image/webp", "image/png", "image/jpeg"),
		event.CapMsgVoice:   fileFeature("audio/ogg"),
	},
	MaxTextLength:       65536,
	LocationMessage:     event.CapLevelFullySupported,
	Reply:               event.CapLevelFullySupported,
	Edit:                event.CapLevelFullySupported,
	EditMaxAge:          ptrSeconds(EditWindow),
	Delete:              event.CapLevelFullySupported,
	DeleteMaxAge:        ptrSeconds(48 * time.Hour),
	Reaction:            event.CapLevelFullySupported,
	ReactionCount:       1,
	ReadReceipts:        true,
	TypingNotifications: true,
	DisappearingTimer:   disappearCapability(),
}

func ptrSeconds(d time.Duration) *jsontime.Seconds {
	s := jsontime.S(d)
	return &s
}

// GetCapabilities is the same for every WhatsApp chat but status and channel rooms, which are read-only.
func (c *Client) GetCapabilities(ctx context.Context, p *bridgev2.Portal) *event.RoomFeatures {
	if chat, err := c.chatOfPortal(p); err == nil && readOnlyChat(chat) {
		return readOnlyRoomFeatures
	}
	return waRoomFeatures
}
