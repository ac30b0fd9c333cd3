package telegram

import (
	"context"
	"fmt"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/portal"
)

var _ bridgev2.MembershipHandlingNetworkAPI = (*Client)(nil)

// HandleMatrixMembership turns invites and kicks of Telegram ghosts in group rooms into
// Telegram member changes, when the account may make them (Telegram answers otherwise, and the
// refusal shows on the Matrix event). Other changes are left to Matrix.
func (c *Client) HandleMatrixMembership(ctx context.Context, msg *bridgev2.MatrixMembershipChange) (result *bridgev2.MatrixMembershipResult, err error) {
	defer observeToRemote("membership", time.Now(), &err)
	chat, topic, _, err := c.chatOf(ctx, msg.Portal)
	if err != nil {
		return nil, err
	}
	ghost, ok := msg.Target.(*bridgev2.Ghost)
	if !ok || chat.Kind == portal.TGUser || topic != 0 {
		return nil, nil
	}
	if err := portal.Require(portal.Telegram, "user ID", string(ghost.ID)); err != nil {
		return nil, err
	}
	target, err := portal.ParseTGUserID(ghost.ID)
	if err != nil || target.Kind != portal.TGUser {
		return nil, fmt.Errorf("only Telegram users can be invited or removed, not %s", ghost.ID)
	}
	user, err := c.inputUser(ctx, target.ID)
	if err != nil {
		return nil, err
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	// Match on the new membership only: homeservers that omit prev_content (Dendrite does, in
	// appservice transactions) make every kick look like leave → leave to bridgev2.
	switch {
	case msg.Type.To == event.MembershipInvite:
		if chat.Kind == portal.TGChat {
			_, err = api.MessagesAddChatUser(ctx, &tg.MessagesAddChatUserRequest{ChatID: chat.ID, UserID: user, FwdLimit: 100})
		} else {
			var in *tg.InputChannel
			if in, err = c.inputChannel(ctx, chat.ID); err == nil {
				_, err = api.ChannelsInviteToChannel(ctx, &tg.ChannelsInviteToChannelRequest{Channel: in, Users: []tg.InputUserClass{user}})
			}
		}
	case !msg.Type.IsSelf && (msg.Type.To == event.MembershipLeave || msg.Type.To == event.MembershipBan):
		if chat.Kind == portal.TGChat {
			_, err = api.MessagesDeleteChatUser(ctx, &tg.MessagesDeleteChatUserRequest{ChatID: chat.ID, UserID: user})
		} else {
			var in *tg.InputChannel
			if in, err = c.inputChannel(ctx, chat.ID); err == nil {
				_, err = api.ChannelsEditBanned(ctx, &tg.ChannelsEditBannedRequest{
					Channel: in, Participant: &tg.InputPeerUser{UserID: target.ID, AccessHash: accessHashOf(user)},
					BannedRights: tg.ChatBannedRights{ViewMessages: true},
				})
			}
		}
	default:
		return nil, nil
	}
	if err != nil {
		return nil, sendError(err)
	}
	return nil, nil
}

func accessHashOf(u tg.InputUserClass) int64 {
	if in, ok := u.(*tg.InputUser); ok {
		return in.AccessHash
	}
	return 0
}
