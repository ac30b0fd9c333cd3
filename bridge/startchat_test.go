package bridge

import (
	"slices"
	"strings"
	"testing"

	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

func TestCandidateNetworks(t *testing.T) {
	parseGhost := func(u id.UserID) (networkid.UserID, bool) {
		local, ok := strings.CutPrefix(string(u), "@passerelle_")
		if !ok {
			return "", false
		}
		local, _, _ = strings.Cut(local, ":")
		return networkid.UserID(local), true
	}
	wa, tg := portal.WhatsApp, portal.Telegram
	cases := []struct {
		in   string
		want []portal.Network
	}{
		{"+33 6 12 34 56 78", []portal.Network{wa, tg}},
		{"33612345678", []portal.Network{wa, tg}},
		{"+1 (555) 010-0199", []portal.Network{wa, tg}},
		{"@durand_paris", []portal.Network{tg}},
		{"https://t.me/durand_paris", []portal.Network{tg}},
		{"wa.33612345678", []portal.Network{wa}},
		{"tg.5000", []portal.Network{tg}},
		{"@passerelle_tg.5000:example.org", []portal.Network{tg}},
		{"@passerelle_wa.33612345678:example.org", []portal.Network{wa}},
		{"@alice:example.org", nil},
		{"Jean Durand", []portal.Network{wa, tg}},
		{"12345", []portal.Network{wa, tg}}, // too short for a phone: asked everywhere as a name
	}
	for _, tc := range cases {
		got := CandidateNetworks(tc.in, parseGhost)
		if !slices.Equal(got, tc.want) {
			t.Errorf("CandidateNetworks(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestIsPhoneNumber(t *testing.T) {
	for in, want := range map[string]bool{
		"+33612345678": true, "06 12 34 56 78": true, "+1-555-0100": true,
		"+": false, "12345": false, "1234567890123456": false, "33 6 abc": false, "6+33": false,
	} {
		if got := IsPhoneNumber(in); got != want {
			t.Errorf("IsPhoneNumber(%q) = %v", in, got)
		}
	}
}
