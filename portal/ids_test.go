package portal

import (
	"errors"
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2/networkid"
)

func TestWhatsAppRoundTrip(t *testing.T) {
	phone := types.NewJID("33612345678", types.DefaultUserServer)
	device := types.JID{User: "33612345678", Server: types.DefaultUserServer, Device: 3}
	lid := types.NewJID("204458913042512", types.HiddenUserServer)
	group := types.NewJID("120363025246125888", types.GroupServer)

	portals := []struct {
		chat types.JID
		want networkid.PortalID
	}{
		{phone, "wa.33612345678@s.whatsapp.net"},
		{device, "wa.33612345678@s.whatsapp.net"},
		{group, "wa.120363025246125888@g.us"},
		{lid, "wa.204458913042512@lid"},
		{types.StatusBroadcastJID, "wa.status@broadcast"},
	}
	for _, tc := range portals {
		got := WAPortalID(tc.chat)
		if got != tc.want {
			t.Errorf("WAPortalID(%s) = %s, want %s", tc.chat, got, tc.want)
		}
		back, err := ParseWAPortalID(got)
		if err != nil || back != tc.chat.ToNonAD() {
			t.Errorf("ParseWAPortalID(%s) = %s, %v", got, back, err)
		}
	}

	users := []struct {
		user types.JID
		want networkid.UserID
	}{
		{phone, "wa.33612345678"},
		{device, "wa.33612345678"},
		{lid, "wa.lid-204458913042512"},
	}
	for _, tc := range users {
		got := WAUserID(tc.user)
		if got != tc.want {
			t.Errorf("WAUserID(%s) = %s, want %s", tc.user, got, tc.want)
		}
		back, err := ParseWAUserID(got)
		if err != nil || back != tc.user.ToNonAD() {
			t.Errorf("ParseWAUserID(%s) = %s, %v", got, back, err)
		}
	}

	login := WALoginID(device)
	if login != "wa.33612345678" {
		t.Errorf("WALoginID = %s", login)
	}
	if back, err := ParseWALoginID(login); err != nil || back != phone {
		t.Errorf("ParseWALoginID = %s, %v", back, err)
	}

	msg := WAMessageID(group, device, "3EB0C767D26A1D8B1F2A")
	if msg != "wa.120363025246125888@g.us/33612345678@s.whatsapp.net/3EB0C767D26A1D8B1F2A" {
		t.Errorf("WAMessageID = %s", msg)
	}
	ref, err := ParseWAMessageID(msg)
	if err != nil || ref.Chat != group || ref.Sender != phone || ref.ID != "3EB0C767D26A1D8B1F2A" || ref.MessageID() != msg {
		t.Errorf("ParseWAMessageID = %+v, %v", ref, err)
	}
}

func TestTelegramRoundTrip(t *testing.T) {
	portals := []struct {
		peer  TGPeer
		topic int
		want  networkid.PortalID
	}{
		{TGPeer{TGUser, 777000}, 0, "tg.u777000"},
		{TGPeer{TGChat, 4242}, 0, "tg.g4242"},
		{TGPeer{TGChannel, 1234567890123}, 0, "tg.c1234567890123"},
		{TGPeer{TGChannel, 99}, 17, "tg.c99.t17"},
	}
	for _, tc := range portals {
		got := TGPortalID(tc.peer, tc.topic)
		if got != tc.want {
			t.Errorf("TGPortalID(%v, %d) = %s, want %s", tc.peer, tc.topic, got, tc.want)
		}
		peer, topic, err := ParseTGPortalID(got)
		if err != nil || peer != tc.peer || topic != tc.topic {
			t.Errorf("ParseTGPortalID(%s) = %v %d %v", got, peer, topic, err)
		}
	}

	senders := []struct {
		peer TGPeer
		want networkid.UserID
	}{
		{TGPeer{TGUser, 5000}, "tg.5000"},
		{TGPeer{TGChannel, 5000}, "tg.c5000"},
	}
	for _, tc := range senders {
		got := TGUserID(tc.peer)
		if got != tc.want {
			t.Errorf("TGUserID(%v) = %s, want %s", tc.peer, got, tc.want)
		}
		back, err := ParseTGUserID(got)
		if err != nil || back != tc.peer {
			t.Errorf("ParseTGUserID(%s) = %v, %v", got, back, err)
		}
	}

	if id := TGLoginID(31337); id != "tg.31337" {
		t.Errorf("TGLoginID = %s", id)
	}
	if n, err := ParseTGLoginID("tg.31337"); err != nil || n != 31337 {
		t.Errorf("ParseTGLoginID = %d, %v", n, err)
	}

	messages := []struct {
		chat    TGPeer
		account int64
		msg     int
		want    networkid.MessageID
	}{
		{TGPeer{TGUser, 5000}, 31337, 12, "tg.u31337.12"},
		{TGPeer{TGChat, 4242}, 31337, 13, "tg.u31337.13"},
		{TGPeer{TGChannel, 99}, 31337, 14, "tg.c99.14"},
	}
	for _, tc := range messages {
		scope := TGMessageScope(tc.chat, tc.account)
		got := TGMessageID(scope, tc.msg)
		if got != tc.want {
			t.Errorf("TGMessageID(%v, %d) = %s, want %s", scope, tc.msg, got, tc.want)
		}
		backScope, backID, err := ParseTGMessageID(got)
		if err != nil || backScope != scope || backID != tc.msg {
			t.Errorf("ParseTGMessageID(%s) = %v %d %v", got, backScope, backID, err)
		}
	}
}

func TestMalformedAndForeignIDs(t *testing.T) {
	cases := []struct {
		name    string
		parse   func() error
		foreign bool
	}{
		{"no prefix", func() error { _, err := ParseWAPortalID("33612345678@s.whatsapp.net"); return err }, false},
		{"unknown prefix", func() error { _, err := ParseWAUserID("sg.33612345678"); return err }, false},
		{"empty after prefix", func() error { _, err := ParseWALoginID("wa."); return err }, false},
		{"wa portal given to tg", func() error { _, _, err := ParseTGPortalID("wa.33612345678@s.whatsapp.net"); return err }, true},
		{"tg ghost given to wa", func() error { _, err := ParseWAUserID("tg.5000"); return err }, true},
		{"tg login given to wa", func() error { _, err := ParseWALoginID("tg.5000"); return err }, true},
		{"wa message given to tg", func() error { _, _, err := ParseTGMessageID("wa.1@g.us/2@s.whatsapp.net/ABC"); return err }, true},
		{"wa user with letters", func() error { _, err := ParseWAUserID("wa.33abc"); return err }, false},
		{"wa portal without server", func() error { _, err := ParseWAPortalID("wa.33612345678"); return err }, false},
		{"wa message missing id", func() error { _, err := ParseWAMessageID("wa.1@g.us/2@s.whatsapp.net/"); return err }, false},
		{"wa message two parts", func() error { _, err := ParseWAMessageID("wa.1@g.us/ABC"); return err }, false},
		{"tg portal unknown kind", func() error { _, _, err := ParseTGPortalID("tg.x123"); return err }, false},
		{"tg portal negative", func() error { _, _, err := ParseTGPortalID("tg.u-5"); return err }, false},
		{"tg portal leading zero", func() error { _, _, err := ParseTGPortalID("tg.u05"); return err }, false},
		{"tg topic on user", func() error { _, _, err := ParseTGPortalID("tg.u5.t3"); return err }, false},
		{"tg topic without t", func() error { _, _, err := ParseTGPortalID("tg.c5.3"); return err }, false},
		{"tg ghost basic group", func() error { _, err := ParseTGUserID("tg.g5"); return err }, false},
		{"tg login with kind", func() error { _, err := ParseTGLoginID("tg.u5"); return err }, false},
		{"tg message basic group scope", func() error { _, _, err := ParseTGMessageID("tg.g5.3"); return err }, false},
		{"tg message zero", func() error { _, _, err := ParseTGMessageID("tg.u5.0"); return err }, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.parse()
			if err == nil {
				t.Fatal("parse accepted a bad ID")
			}
			if tc.foreign != errors.Is(err, ErrForeignID) {
				t.Fatalf("foreign=%v but error is %v", tc.foreign, err)
			}
			if !tc.foreign && !errors.Is(err, ErrMalformedID) {
				t.Fatalf("error does not wrap ErrMalformedID: %v", err)
			}
		})
	}
}

func TestNetworkOf(t *testing.T) {
	for id, want := range map[string]Network{"wa.1@g.us": WhatsApp, "tg.u1": Telegram} {
		if got, err := NetworkOf(id); err != nil || got != want {
			t.Errorf("NetworkOf(%s) = %s, %v", id, got, err)
		}
	}
	if _, err := NetworkOf("xx.1"); !errors.Is(err, ErrMalformedID) {
		t.Errorf("NetworkOf(xx.1) err = %v", err)
	}
}
