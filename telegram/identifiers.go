package telegram

import (
	"context"
	"fmt"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"

	"github.com/passerelle-bridge/passerelle/portal"
)

var _ bridgev2.IdentifierResolvingNetworkAPI = (*Client)(nil)

// ResolveIdentifier finds a Telegram user by @username, phone number or ghost ID, and opens
// the DM when createChat is set. Identifiers this account cannot reach return
// bridgev2.ErrResolveIdentifierTryNext so the composite connector can try another login.
func (c *Client) ResolveIdentifier(ctx context.Context, identifier string, createChat bool) (*bridgev2.ResolveIdentifierResponse, error) {
	identifier = strings.TrimSpace(identifier)
	if n, err := portal.NetworkOf(identifier); err == nil && n != portal.Telegram {
		return nil, bridgev2.ErrResolveIdentifierTryNext
	}
	api, err := c.API(ctx)
	if err != nil {
		return nil, err
	}
	var user *tg.User
	switch {
	case strings.HasPrefix(identifier, "@") || strings.HasPrefix(identifier, "telegram:@"):
		name := strings.TrimPrefix(strings.TrimPrefix(identifier, "telegram:"), "@")
		res, err := api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: name})
		if tgerr.Is(err, "USERNAME_NOT_OCCUPIED", "USERNAME_INVALID") {
			return nil, bridgev2.ErrResolveIdentifierTryNext
		} else if err != nil {
			return nil, fmt.Errorf("resolve @%s: %w", name, err)
		}
		c.remember(ctx, newEntities(res.Users, res.Chats))
		user = findUser(res.Users, res.Peer)
	case strings.HasPrefix(identifier, "tg."):
		peer, err := portal.ParseTGUserID(networkid.UserID(identifier))
		if err != nil || peer.Kind != portal.TGUser {
			return nil, bridgev2.ErrResolveIdentifierTryNext
		}
		in, err := c.inputUser(ctx, peer.ID)
		if err != nil {
			return nil, bridgev2.ErrResolveIdentifierTryNext
		}
		users, err := api.UsersGetUsers(ctx, []tg.InputUserClass{in})
		if err != nil {
			return nil, fmt.Errorf("get user %d: %w", peer.ID, err)
		}
		user = findUser(users, &tg.PeerUser{UserID: peer.ID})
	default:
		phone := normalizePhone(identifier)
		if len(phone) < 6 {
			return nil, bridgev2.ErrResolveIdentifierTryNext
		}
		res, err := api.ContactsResolvePhone(ctx, phone)
		if tgerr.Is(err, "PHONE_NOT_OCCUPIED", "PHONE_NUMBER_INVALID") {
			return nil, bridgev2.ErrResolveIdentifierTryNext
		} else if err != nil {
			return nil, fmt.Errorf("resolve phone %s: %w", phone, err)
		}
		c.remember(ctx, newEntities(res.Users, res.Chats))
		user = findUser(res.Users, res.Peer)
	}
	if user == nil {
		return nil, bridgev2.ErrResolveIdentifierTryNext
	}
	peer := portal.TGPeer{Kind: portal.TGUser, ID: user.ID}
	userID := portal.TGUserID(peer)
	ghost, err := c.main.Bridge.GetGhostByID(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("get ghost of %d: %w", user.ID, err)
	}
	resp := &bridgev2.ResolveIdentifierResponse{Ghost: ghost, UserID: userID, UserInfo: c.userInfo(user)}
	if createChat {
		resp.Chat = &bridgev2.CreateChatResponse{PortalKey: c.portalKey(peer, 0)}
	}
	return resp, nil
}

func findUser(users []tg.UserClass, peer tg.PeerClass) *tg.User {
	p, ok := peer.(*tg.PeerUser)
	if !ok {
		return nil
	}
	for _, u := range users {
		if u, ok := u.(*tg.User); ok && u.ID == p.UserID {
			return u
		}
	}
	return nil
}
