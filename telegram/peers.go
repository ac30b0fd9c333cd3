package telegram

import (
	"context"
	"fmt"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix/bridgev2/networkid"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
)

// inputPeer builds the InputPeer of a chat with the access hash stored for this account.
func (c *Client) inputPeer(ctx context.Context, p portal.TGPeer) (tg.InputPeerClass, error) {
	switch p.Kind {
	case portal.TGUser:
		if p.ID == c.userID {
			return &tg.InputPeerSelf{}, nil
		}
		hash, err := c.accessHash(ctx, tgstore.KindUser, p.ID)
		if err != nil {
			return nil, err
		}
		return &tg.InputPeerUser{UserID: p.ID, AccessHash: hash}, nil
	case portal.TGChat:
		return &tg.InputPeerChat{ChatID: p.ID}, nil
	case portal.TGChannel:
		hash, err := c.accessHash(ctx, tgstore.KindChannel, p.ID)
		if err != nil {
			return nil, err
		}
		return &tg.InputPeerChannel{ChannelID: p.ID, AccessHash: hash}, nil
	}
	return nil, fmt.Errorf("peer %s: unknown kind", p)
}

func (c *Client) accessHash(ctx context.Context, kind tgstore.Kind, id int64) (int64, error) {
	hash, found, err := c.main.Store.AccessHash(ctx, c.userID, kind, id)
	if err != nil {
		return 0, err
	}
	if !found {
		return 0, fmt.Errorf("this Telegram account has not seen %s%d yet (no access hash stored); wait for a message from it", kind, id)
	}
	return hash, nil
}

func (c *Client) inputUser(ctx context.Context, id int64) (tg.InputUserClass, error) {
	if id == c.userID {
		return &tg.InputUserSelf{}, nil
	}
	hash, err := c.accessHash(ctx, tgstore.KindUser, id)
	if err != nil {
		return nil, err
	}
	return &tg.InputUser{UserID: id, AccessHash: hash}, nil
}

func (c *Client) inputChannel(ctx context.Context, id int64) (*tg.InputChannel, error) {
	hash, err := c.accessHash(ctx, tgstore.KindChannel, id)
	if err != nil {
		return nil, err
	}
	return &tg.InputChannel{ChannelID: id, AccessHash: hash}, nil
}

// portalPeer parses a portal ID of this network, refusing the other network's.
func portalPeer(id networkid.PortalID) (portal.TGPeer, int, error) {
	if err := portal.Require(portal.Telegram, "portal ID", string(id)); err != nil {
		return portal.TGPeer{}, 0, err
	}
	return portal.ParseTGPortalID(id)
}

// messageRef returns the Telegram message ID of a bridged message of chat.
func (c *Client) messageRef(chat portal.TGPeer, id networkid.MessageID) (int, error) {
	if err := portal.Require(portal.Telegram, "message ID", string(id)); err != nil {
		return 0, err
	}
	scope, msgID, err := portal.ParseTGMessageID(id)
	if err != nil {
		return 0, err
	}
	if want := portal.TGMessageScope(chat, c.userID); scope != want {
		return 0, fmt.Errorf("message %s belongs to %s, not to this chat/account (%s)", id, scope, want)
	}
	return msgID, nil
}
