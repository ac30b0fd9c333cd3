package whatsapp

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.mau.fi/util/jsontime"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"
)

var _ bridgev2.DisappearTimerChangingNetworkAPI = (*Client)(nil)

// DisappearTimers are the disappearing-message timers WhatsApp offers (24 hours, 7 days, 90
// days); its apps show no other, so the bridge refuses other values instead of rounding them.
var DisappearTimers = []time.Duration{24 * time.Hour, 7 * 24 * time.Hour, 90 * 24 * time.Hour}

// disappearCapability is the room feature that lets Matrix clients offer exactly those timers.
func disappearCapability() *event.DisappearingTimerCapability {
	timers := make([]jsontime.Milliseconds, len(DisappearTimers))
	for i, d := range DisappearTimers {
		timers[i] = jsontime.MS(d)
	}
	return &event.DisappearingTimerCapability{Types: []event.DisappearingType{event.DisappearingTypeAfterSend}, Timers: timers}
}

// HandleMatrixDisappearingTimer sets the WhatsApp chat's timer when the Matrix room's
// com.beeper.disappearing_timer changes: in a DM the contact's phone gets the setting message, in
// a group the group's setting changes for everyone. bridgev2 has already refused timers outside
// the room's capability; the portal's setting changes only once WhatsApp accepted.
func (c *Client) HandleMatrixDisappearingTimer(ctx context.Context, msg *bridgev2.MatrixDisappearingTimer) (changed bool, err error) {
	defer observeToRemote("disappearing_timer", time.Now(), &err)
	chat, err := c.writableChatOfPortal(msg.Portal)
	if err != nil {
		return false, err
	}
	if chat.Server != types.GroupServer && chat.Server != types.DefaultUserServer && chat.Server != types.HiddenUserServer {
		return false, fmt.Errorf("WhatsApp has no disappearing timer for %s chats", chat.Server)
	}
	if err = c.connected(); err != nil {
		return false, err
	}
	setting := database.DisappearingSetting{Type: event.DisappearingTypeNone}
	if msg.Content.Type != event.DisappearingTypeNone && msg.Content.Timer.Duration > 0 {
		if msg.Content.Type != event.DisappearingTypeAfterSend || !slices.Contains(DisappearTimers, msg.Content.Timer.Duration) {
			return false, fmt.Errorf("WhatsApp only offers disappearing messages %v after sending, not %s %s", DisappearTimers, msg.Content.Type, msg.Content.Timer.Duration)
		}
		setting = database.DisappearingSetting{Type: event.DisappearingTypeAfterSend, Timer: msg.Content.Timer.Duration}
	}
	if err = c.WA.SetDisappearingTimer(ctx, chat, setting.Timer, time.Now()); err != nil {
		return false, fmt.Errorf("set the disappearing timer of WhatsApp chat %s to %s: %w", chat, setting.Timer, err)
	}
	msg.Portal.Disappear = setting
	return true, nil
}

// withExpiration marks an outgoing message with the chat's disappearing timer, as WhatsApp's apps
// do, so that the recipients' phones delete it when the timer runs out.
func withExpiration(waMsg *waE2E.Message, p *bridgev2.Portal) {
	if p.Disappear.Type != event.DisappearingTypeAfterSend || p.Disappear.Timer <= 0 {
		return
	}
	ensureContextInfo(waMsg).Expiration = proto.Uint32(uint32(p.Disappear.Timer / time.Second))
}
