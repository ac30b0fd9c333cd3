package importer

import (
	"context"
	"testing"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/bridgeconfig"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"

	"github.com/passerelle-bridge/passerelle/portal"
)

type fakeSource struct {
	Source
	n portal.Network
}

func (f fakeSource) Network() portal.Network { return f.n }

// The portal keys must be the ones the connectors use, or the import would create a second room
// for a chat the bridge already knows under another key.
func TestPortalKeyRules(t *testing.T) {
	tgLogin := &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: "tg.9"}}
	waLogin := &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: "wa.336"}}
	peer := func(k portal.TGPeerKind, id int64) *ChatRef {
		return &ChatRef{TGPeer: &portal.TGPeer{Kind: k, ID: id}}
	}
	cases := []struct {
		name  string
		n     portal.Network
		ref   *ChatRef
		chat  string
		login *bridgev2.UserLogin
		split bool
		want  networkid.PortalKey
		known bool
	}{
		{"tg DM", portal.Telegram, peer(portal.TGUser, 5), "", tgLogin, false, networkid.PortalKey{ID: "tg.u5", Receiver: "tg.9"}, true},
		{"tg basic group is per account", portal.Telegram, peer(portal.TGChat, 6), "", tgLogin, false, networkid.PortalKey{ID: "tg.g6", Receiver: "tg.9"}, true},
		{"tg supergroup is shared", portal.Telegram, peer(portal.TGChannel, 7), "", tgLogin, false, networkid.PortalKey{ID: "tg.c7"}, true},
		{"tg supergroup split", portal.Telegram, peer(portal.TGChannel, 7), "", tgLogin, true, networkid.PortalKey{ID: "tg.c7", Receiver: "tg.9"}, true},
		{"tg supergroup without login", portal.Telegram, peer(portal.TGChannel, 7), "", nil, false, networkid.PortalKey{ID: "tg.c7"}, true},
		{"tg DM without login", portal.Telegram, peer(portal.TGUser, 5), "", nil, false, networkid.PortalKey{}, false},
		{"tg chat without id", portal.Telegram, &ChatRef{}, "", tgLogin, false, networkid.PortalKey{}, false},
		{"wa DM", portal.WhatsApp, &ChatRef{}, "+33 6 12 34 56 78", waLogin, false, networkid.PortalKey{ID: "wa.33612345678@s.whatsapp.net", Receiver: "wa.336"}, true},
		{"wa group", portal.WhatsApp, &ChatRef{}, "120363025246125888@g.us", waLogin, false, networkid.PortalKey{ID: "wa.120363025246125888@g.us"}, true},
		{"wa without --chat", portal.WhatsApp, &ChatRef{}, "", waLogin, false, networkid.PortalKey{}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := &run{
				im:    &Importer{br: &bridgev2.Bridge{Config: &bridgeconfig.BridgeConfig{SplitPortals: tc.split}}},
				req:   &Request{Chat: tc.chat},
				src:   fakeSource{n: tc.n},
				login: tc.login,
			}
			key, known, err := r.portalKey(context.Background(), tc.ref)
			if err != nil || known != tc.known || known && key != tc.want {
				t.Fatalf("portalKey = %+v, %v, %v; want %+v, %v", key, known, err, tc.want, tc.known)
			}
		})
	}
}
