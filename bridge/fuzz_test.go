package bridge

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// Fuzz targets for what users type into start-chat / resolve-identifier. `go test` runs the
// seeds; explore with
//
//	CGO_ENABLED=1 go test -tags goolm -run '^$' -fuzz '^FuzzCandidateNetworks$' -fuzztime 30s ./bridge/

var identifierSeeds = []string{
	"", " ", "+", "+33 6 12 34 56 78", "33612345678", "+1 (555) 010-0199", "123456", "12345",
	"1234567890123456", "+44.20.7946.0958", "++33612345678", "33+612345678", "06 12 34 56 78",
	"@durand_paris", "@", "@x:", "https://t.me/durand_paris", "t.me/x", "wa.33612345678", "tg.5000",
	"wa.", "tg.", "xx.5", "@passerelle_tg.5000:example.org", "@passerelle_wa.33612345678:example.org",
	"@passerelle_zz.1:example.org", "@alice:example.org", "Jean Durand", "٣٣٦١٢٣٤٥٦٧٨", "３３６１２３４５６７８",
	"\x00", "+33 6 12 34 56 78\n", "  +33612345678  ",
}

// testGhostParser mirrors the ghost localpart template the e2e config uses (passerelle_{{.}}).
func testGhostParser(u id.UserID) (networkid.UserID, bool) {
	local, ok := strings.CutPrefix(string(u), "@passerelle_")
	if !ok {
		return "", false
	}
	local, _, _ = strings.Cut(local, ":")
	return networkid.UserID(local), true
}

func FuzzCandidateNetworks(f *testing.F) {
	for _, s := range identifierSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got := CandidateNetworks(in, testGhostParser)
		// Only bridged networks, each at most once.
		seen := map[portal.Network]bool{}
		for _, n := range got {
			if !n.Valid() {
				t.Fatalf("CandidateNetworks(%q) = %v: %q is not a bridged network", in, got, n)
			}
			if seen[n] {
				t.Fatalf("CandidateNetworks(%q) = %v: %s twice", in, got, n)
			}
			seen[n] = true
		}
		trimmed := strings.TrimSpace(in)
		_, idErr := portal.NetworkOf(trimmed)
		switch {
		case strings.HasPrefix(trimmed, "@") && strings.Contains(trimmed, ":"):
			// A Matrix ID: only a ghost's own network, or nothing for a real Matrix user.
			if len(got) > 1 {
				t.Fatalf("CandidateNetworks(%q) = %v: a Matrix ID names at most one network", in, got)
			}
		case idErr == nil:
		case strings.HasPrefix(trimmed, "@"):
			if !slices.Equal(got, []portal.Network{portal.Telegram}) {
				t.Fatalf("CandidateNetworks(%q) = %v: an @username is a Telegram name only", in, got)
			}
		default:
			// Anything else is asked somewhere: a user never gets "nowhere" for a name.
			if len(got) == 0 {
				t.Fatalf("CandidateNetworks(%q) = nothing", in)
			}
		}
		// A prefixed ID goes to its own network only.
		if n, err := portal.NetworkOf(trimmed); err == nil && !slices.Equal(got, []portal.Network{n}) {
			t.Fatalf("CandidateNetworks(%q) = %v, want only %s", in, got, n)
		}
		// A phone number is tried on WhatsApp first; Telegram comes after it.
		if IsPhoneNumber(trimmed) && !slices.Equal(got, []portal.Network{portal.WhatsApp, portal.Telegram}) {
			t.Fatalf("CandidateNetworks(%q) = %v, want WhatsApp then Telegram for a phone number", in, got)
		}
	})
}

func FuzzIsPhoneNumber(f *testing.F) {
	for _, s := range identifierSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		if !IsPhoneNumber(in) {
			return
		}
		digits := 0
		for i, r := range in {
			switch {
			case r >= '0' && r <= '9':
				digits++
			case r == '+':
				if i != 0 {
					t.Fatalf("IsPhoneNumber(%q): '+' accepted at byte %d", in, i)
				}
			case strings.ContainsRune(" -().", r):
			default:
				t.Fatalf("IsPhoneNumber(%q): accepted %q, which is not part of a phone number", in, r)
			}
		}
		if digits < 6 || digits > 15 {
			t.Fatalf("IsPhoneNumber(%q): %d digits, E.164 numbers have 6 to 15", in, digits)
		}
		if !utf8.ValidString(in) {
			t.Fatalf("IsPhoneNumber(%q): accepted invalid UTF-8", in)
		}
		// Never mistaken for a prefixed ID or an @username.
		if _, err := portal.NetworkOf(in); err == nil || strings.HasPrefix(in, "@") {
			t.Fatalf("IsPhoneNumber(%q) but it is an ID or a username", in)
		}
	})
}

// TestPhoneNumbersSkipDisabledNetworks: whatever CandidateNetworks proposes, the start-chat
// routing in fnResolve only asks enabled networks (c.For refuses a disabled one), so a phone
// number never reaches a network the operator switched off.
func TestPhoneNumbersSkipDisabledNetworks(t *testing.T) {
	c := New()
	for _, disabled := range portal.Networks {
		t.Run("without-"+disabled.Name(), func(t *testing.T) {
			switch disabled {
			case portal.WhatsApp:
				c.WhatsApp.Config.Enabled = false
				c.Telegram.Config.Enabled = true
			case portal.Telegram:
				c.WhatsApp.Config.Enabled = true
				c.Telegram.Config.Enabled = false
			}
			for _, in := range identifierSeeds {
				for _, n := range CandidateNetworks(in, testGhostParser) {
					_, err := c.For(n)
					if n == disabled && err == nil {
						t.Errorf("%q: the disabled %s is still routable", in, n.Name())
					}
					if n != disabled && err != nil {
						t.Errorf("%q: enabled %s refused: %v", in, n.Name(), err)
					}
				}
			}
		})
	}
}
