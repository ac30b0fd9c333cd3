package portal

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
)

func TestStampRemoteID(t *testing.T) {
	cm := &bridgev2.ConvertedMessage{Parts: []*bridgev2.ConvertedMessagePart{
		{},
		{ID: "caption", Extra: map[string]any{"keep": 1}},
	}}
	StampRemoteID(cm, "tg.u1.42")
	for i, want := range []string{"tg.u1.42", "tg.u1.42/caption"} {
		if got := cm.Parts[i].Extra[RemoteIDKey]; got != want {
			t.Errorf("part %d: %v, want %q", i, got, want)
		}
	}
	if cm.Parts[1].Extra["keep"] != 1 {
		t.Error("existing extra content was dropped")
	}
	StampRemoteID(nil, "x") // must not panic
}

func TestRemoteMessageOf(t *testing.T) {
	wa := string(WAMessageID(types.NewJID("33612345678", types.DefaultUserServer), types.NewJID("33687654321", types.DefaultUserServer), "3EB0ABC"))
	tg := string(TGMessageID(TGPeer{Kind: TGUser, ID: 42}, 7))
	for _, tc := range []struct{ in, want string }{
		{wa, wa},
		{wa + "/caption", wa},
		{tg, tg},
		{tg + "/1", tg},
		{"", ""},
		{"other/thing", "other"},
	} {
		if got := RemoteMessageOf(tc.in); got != tc.want {
			t.Errorf("RemoteMessageOf(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
