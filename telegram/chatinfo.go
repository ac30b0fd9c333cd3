package telegram

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/gotd/td/telegram/downloader"
	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
)

// Matrix power levels of Telegram roles.
const (
	levelCreator = 100
	levelAdmin   = 50
	levelMember  = 0
)

func ptr[T any](v T) *T { return &v }

// GetChatInfo fetches a chat's title, about, photo, members and their roles.
func (c *Client) GetChatInfo(ctx context.Context, p *bridgev2.Portal) (*bridgev2.ChatInfo, error) {
	chat, topic, err := portalPeer(p.ID)
	if err != nil {
		return nil, err
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	switch chat.Kind {
	case portal.TGUser:
		return c.dmInfo(ctx, api, chat)
	case portal.TGChat:
		return c.groupInfo(ctx, api, p, chat)
	default:
		return c.channelInfo(ctx, api, p, chat, topic)
	}
}

func (c *Client) selfMember(level int) bridgev2.ChatMember {
	return bridgev2.ChatMember{
		EventSender: bridgev2.EventSender{IsFromMe: true, SenderLogin: c.login.ID, Sender: c.selfUserID()},
		Membership:  event.MembershipJoin,
		PowerLevel:  ptr(level),
	}
}

func (c *Client) dmInfo(ctx context.Context, api *tg.Client, chat portal.TGPeer) (*bridgev2.ChatInfo, error) {
	other := portal.TGUserID(chat)
	members := &bridgev2.ChatMemberList{
		IsFull:      true,
		OtherUserID: other,
		MemberMap: bridgev2.ChatMemberMap{}.
			Set(c.selfMember(levelMember)).
			Set(bridgev2.ChatMember{EventSender: bridgev2.EventSender{Sender: other}, Membership: event.MembershipJoin}),
	}
	info := &bridgev2.ChatInfo{Members: members, Type: ptr(database.RoomTypeDM), CanBackfill: true}
	if chat.ID == c.userID {
		info.Name = ptr("Saved Messages")
	}
	return info, nil
}

func (c *Client) groupInfo(ctx context.Context, api *tg.Client, p *bridgev2.Portal, chat portal.TGPeer) (*bridgev2.ChatInfo, error) {
	full, err := api.MessagesGetFullChat(ctx, chat.ID)
	if err != nil {
		return nil, fmt.Errorf("get basic group %d: %w", chat.ID, err)
	}
	c.remember(ctx, newEntities(full.Users, full.Chats))
	info := &bridgev2.ChatInfo{Type: ptr(database.RoomTypeGroupDM), CanBackfill: true}
	for _, ch := range full.Chats {
		if g, ok := ch.(*tg.Chat); ok && g.ID == chat.ID {
			info.Name = ptr(g.Title)
			if photo, ok := g.Photo.(*tg.ChatPhoto); ok {
				info.Avatar = c.avatar(&tg.InputPeerChat{ChatID: chat.ID}, photo.PhotoID)
			} else {
				info.Avatar = &bridgev2.Avatar{Remove: true}
			}
		}
		if g, ok := ch.(*tg.ChatForbidden); ok && g.ID == chat.ID {
			info.Name = ptr(g.Title)
		}
	}
	info.Type = ptr(database.RoomTypeDefault)
	cf, ok := full.FullChat.(*tg.ChatFull)
	if !ok {
		return info, nil
	}
	info.Topic = ptr(cf.About)
	members := &bridgev2.ChatMemberList{IsFull: true, MemberMap: bridgev2.ChatMemberMap{}, PowerLevels: groupPowerLevels()}
	if parts, ok := cf.Participants.(*tg.ChatParticipants); ok {
		for _, part := range parts.Participants {
			level := levelMember
			switch part.(type) {
			case *tg.ChatParticipantCreator:
				level = levelCreator
			case *tg.ChatParticipantAdmin:
				level = levelAdmin
			}
			members.MemberMap.Set(c.member(part.GetUserID(), level))
		}
	} else {
		members.IsFull = false
	}
	info.Members = members
	return info, nil
}

func (c *Client) member(userID int64, level int) bridgev2.ChatMember {
	if userID == c.userID {
		return c.selfMember(level)
	}
	return bridgev2.ChatMember{
		EventSender: bridgev2.EventSender{Sender: portal.TGUserID(portal.TGPeer{Kind: portal.TGUser, ID: userID})},
		Membership:  event.MembershipJoin,
		PowerLevel:  ptr(level),
	}
}

// groupPowerLevels makes admin-only what Telegram keeps to admins by default.
func groupPowerLevels() *bridgev2.PowerLevelOverrides {
	return &bridgev2.PowerLevelOverrides{
		Events: map[event.Type]int{
			event.StateRoomName:   levelMember,
			event.StateTopic:      levelMember,
			event.StateRoomAvatar: levelMember,
		},
		Kick: ptr(levelAdmin),
		Ban:  ptr(levelAdmin),
	}
}

func (c *Client) channelInfo(ctx context.Context, api *tg.Client, p *bridgev2.Portal, chat portal.TGPeer, topic int) (*bridgev2.ChatInfo, error) {
	in, err := c.inputChannel(ctx, chat.ID)
	if err != nil {
		return nil, err
	}
	full, err := api.ChannelsGetFullChannel(ctx, in)
	if err != nil {
		return nil, fmt.Errorf("get channel %d: %w", chat.ID, err)
	}
	c.remember(ctx, newEntities(full.Users, full.Chats))
	info := &bridgev2.ChatInfo{CanBackfill: true}
	var ch *tg.Channel
	for _, cc := range full.Chats {
		if x, ok := cc.(*tg.Channel); ok && x.ID == chat.ID {
			ch = x
		}
	}
	if ch == nil {
		return nil, fmt.Errorf("get channel %d: not in the answer", chat.ID)
	}
	info.Name = ptr(ch.Title)
	if photo, ok := ch.Photo.(*tg.ChatPhoto); ok {
		info.Avatar = c.avatar(&tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}, photo.PhotoID)
	} else {
		info.Avatar = &bridgev2.Avatar{Remove: true}
	}
	if cf, ok := full.FullChat.(*tg.ChannelFull); ok {
		info.Topic = ptr(cf.About)
	}
	if topic != 0 {
		title := c.topicTitle(ctx, api, ch, topic)
		info.Name = ptr(ch.Title + " / " + title)
		info.Topic = ptr(title)
	}
	info.ExtraUpdates = c.updatePortalMeta(ch)
	canPost := !ch.Broadcast || ch.Creator
	if rights, ok := ch.GetAdminRights(); ok && (rights.PostMessages || !ch.Broadcast) {
		canPost = true
	}
	selfLevel := levelMember
	if ch.Creator {
		selfLevel = levelCreator
	} else if _, ok := ch.GetAdminRights(); ok {
		selfLevel = levelAdmin
	}
	pl := groupPowerLevels()
	if ch.Broadcast {
		// Channels are read-only for subscribers: only those who may post get the level to.
		pl.EventsDefault = ptr(levelAdmin)
		if canPost && selfLevel < levelAdmin {
			selfLevel = levelAdmin
		}
	}
	members := &bridgev2.ChatMemberList{MemberMap: bridgev2.ChatMemberMap{}, PowerLevels: pl}
	members.MemberMap.Set(c.selfMember(selfLevel))
	// Posts in channels (and anonymous admins in supergroups) come from the channel itself.
	members.MemberMap.Set(bridgev2.ChatMember{
		EventSender: bridgev2.EventSender{Sender: portal.TGUserID(chat)},
		Membership:  event.MembershipJoin,
		PowerLevel:  ptr(levelAdmin),
	})
	if !ch.Broadcast {
		parts, err := api.ChannelsGetParticipants(ctx, &tg.ChannelsGetParticipantsRequest{
			Channel: in, Filter: &tg.ChannelParticipantsRecent{}, Limit: 200,
		})
		if err == nil {
			if list, ok := parts.(*tg.ChannelsChannelParticipants); ok {
				c.remember(ctx, newEntities(list.Users, list.Chats))
				members.IsFull = list.Count <= len(list.Participants)
				members.TotalMemberCount = list.Count
				for _, part := range list.Participants {
					c.addChannelMember(members, part)
				}
			}
		} else {
			c.log.Warn().Err(err).Int64("channel_id", chat.ID).Msg("Failed to list channel members")
		}
	}
	info.Members = members
	return info, nil
}

func (c *Client) addChannelMember(members *bridgev2.ChatMemberList, part tg.ChannelParticipantClass) {
	var userID int64
	level := levelMember
	switch p := part.(type) {
	case *tg.ChannelParticipant:
		userID = p.UserID
	case *tg.ChannelParticipantSelf:
		userID = p.UserID
	case *tg.ChannelParticipantCreator:
		userID, level = p.UserID, levelCreator
	case *tg.ChannelParticipantAdmin:
		userID, level = p.UserID, levelAdmin
	default:
		return
	}
	if userID == c.userID {
		if cur := members.MemberMap[c.selfUserID()]; cur.PowerLevel != nil && *cur.PowerLevel > level {
			level = *cur.PowerLevel
		}
	}
	members.MemberMap.Set(c.member(userID, level))
}

// updatePortalMeta keeps the channel's access hash and kind in the portal row.
func (c *Client) updatePortalMeta(ch *tg.Channel) bridgev2.ExtraUpdater[*bridgev2.Portal] {
	return func(ctx context.Context, p *bridgev2.Portal) bool {
		meta, _ := p.Metadata.(*portal.PortalMeta)
		if meta == nil {
			meta = &portal.PortalMeta{}
			p.Metadata = meta
		}
		want := tgmeta.Portal{AccessHash: ch.AccessHash, IsForum: ch.Forum, ReadOnly: ch.Broadcast && !ch.Creator}
		if rights, ok := ch.GetAdminRights(); ok && rights.PostMessages {
			want.ReadOnly = false
		}
		if meta.TG != nil {
			want.MigratedTo = meta.TG.MigratedTo
			if *meta.TG == want {
				return false
			}
		}
		meta.TG = &want
		return true
	}
}

func (c *Client) topicTitle(ctx context.Context, api *tg.Client, ch *tg.Channel, topic int) string {
	peer := &tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
	res, err := api.MessagesGetForumTopicsByID(ctx, &tg.MessagesGetForumTopicsByIDRequest{Peer: peer, Topics: []int{topic}})
	if err != nil {
		// Servers without getForumTopicsByID (older layers) list the topics instead.
		res, err = api.MessagesGetForumTopics(ctx, &tg.MessagesGetForumTopicsRequest{Peer: peer, Limit: 100})
	}
	if err == nil {
		for _, t := range res.Topics {
			if ft, ok := t.(*tg.ForumTopic); ok && ft.ID == topic {
				return ft.Title
			}
		}
	}
	if topic == 1 {
		return "General"
	}
	return "Topic " + strconv.Itoa(topic)
}

// avatar downloads a chat or user photo only when its ID changed.
func (c *Client) avatar(peer tg.InputPeerClass, photoID int64) *bridgev2.Avatar {
	return &bridgev2.Avatar{
		ID: networkid.AvatarID(strconv.FormatInt(photoID, 10)),
		Get: func(ctx context.Context) ([]byte, error) {
			api, err := c.API(ctx)
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			_, err = downloader.NewDownloader().Download(api, &tg.InputPeerPhotoFileLocation{Big: true, Peer: peer, PhotoID: photoID}).Stream(ctx, &buf)
			if err != nil {
				return nil, fmt.Errorf("download photo %d: %w", photoID, err)
			}
			return buf.Bytes(), nil
		},
	}
}

// GetUserInfo fetches a ghost's name, username, phone (when visible) and avatar.
func (c *Client) GetUserInfo(ctx context.Context, ghost *bridgev2.Ghost) (*bridgev2.UserInfo, error) {
	if err := portal.Require(portal.Telegram, "user ID", string(ghost.ID)); err != nil {
		return nil, err
	}
	peer, err := portal.ParseTGUserID(ghost.ID)
	if err != nil {
		return nil, err
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	if peer.Kind == portal.TGChannel {
		in, err := c.inputChannel(ctx, peer.ID)
		if err != nil {
			return nil, err
		}
		res, err := api.ChannelsGetChannels(ctx, []tg.InputChannelClass{in})
		if err != nil {
			return nil, fmt.Errorf("get channel %d: %w", peer.ID, err)
		}
		for _, ch := range res.GetChats() {
			if x, ok := ch.(*tg.Channel); ok && x.ID == peer.ID {
				info := &bridgev2.UserInfo{Name: ptr(x.Title), IsBot: ptr(false)}
				if x.Username != "" {
					info.Identifiers = []string{"telegram:@" + x.Username}
				}
				if photo, ok := x.Photo.(*tg.ChatPhoto); ok {
					info.Avatar = c.avatar(&tg.InputPeerChannel{ChannelID: x.ID, AccessHash: x.AccessHash}, photo.PhotoID)
				}
				return info, nil
			}
		}
		return nil, fmt.Errorf("get channel %d: not in the answer", peer.ID)
	}
	in, err := c.inputUser(ctx, peer.ID)
	if err != nil {
		return nil, err
	}
	users, err := api.UsersGetUsers(ctx, []tg.InputUserClass{in})
	if err != nil {
		return nil, fmt.Errorf("get user %d: %w", peer.ID, err)
	}
	for _, uc := range users {
		if u, ok := uc.(*tg.User); ok && u.ID == peer.ID {
			c.remember(ctx, newEntities([]tg.UserClass{u}, nil))
			return c.userInfo(u), nil
		}
	}
	return nil, fmt.Errorf("get user %d: not in the answer", peer.ID)
}

func (c *Client) userInfo(u *tg.User) *bridgev2.UserInfo {
	info := &bridgev2.UserInfo{Name: ptr(displayName(u)), IsBot: ptr(u.Bot)}
	if u.Username != "" {
		info.Identifiers = append(info.Identifiers, "telegram:@"+u.Username)
	}
	if u.Phone != "" {
		info.Identifiers = append(info.Identifiers, "tel:+"+strings.TrimPrefix(u.Phone, "+"))
	}
	if photo, ok := u.Photo.(*tg.UserProfilePhoto); ok {
		info.Avatar = c.avatar(&tg.InputPeerUser{UserID: u.ID, AccessHash: u.AccessHash}, photo.PhotoID)
	} else {
		info.Avatar = &bridgev2.Avatar{Remove: true}
	}
	info.ExtraUpdates = func(ctx context.Context, g *bridgev2.Ghost) bool {
		meta, _ := g.Metadata.(*portal.GhostMeta)
		if meta == nil {
			meta = &portal.GhostMeta{}
			g.Metadata = meta
		}
		want := tgmeta.Ghost{AccessHash: u.AccessHash, Username: u.Username}
		if photo, ok := u.Photo.(*tg.UserProfilePhoto); ok {
			want.PhotoID = photo.PhotoID
		}
		if meta.TG != nil && *meta.TG == want {
			return false
		}
		meta.TG = &want
		return true
	}
	return info
}

var _ = id.UserID("")
