package portal

import (
	"errors"
	"strings"
	"testing"

	"maunium.net/go/mautrix/bridgev2/networkid"
)

func TestImportedUserID(t *testing.T) {
	a := ImportedUserID(WhatsApp, "@alice:example.org", "Anna Müller")
	if !strings.HasPrefix(string(a), "wa.imp.") || len(a) != len("wa.imp.")+26 {
		t.Fatalf("ImportedUserID = %q, want wa.imp.<26 base32 chars>", a)
	}
	cases := []struct {
		name  string
		other networkid.UserID
		same  bool
	}{
		{"same input", ImportedUserID(WhatsApp, "@alice:example.org", "Anna Müller"), true},
		{"spacing and case", ImportedUserID(WhatsApp, "@alice:example.org", "  anna   MÜLLER "), true},
		{"other name", ImportedUserID(WhatsApp, "@alice:example.org", "Anna Muller"), false},
		{"other importer", ImportedUserID(WhatsApp, "@bob:example.org", "Anna Müller"), false},
		{"other network", ImportedUserID(Telegram, "@alice:example.org", "Anna Müller"), false},
	}
	for _, tc := range cases {
		if (tc.other == a) != tc.same {
			t.Errorf("%s: %q vs %q, want same=%v", tc.name, tc.other, a, tc.same)
		}
	}
	for _, id := range []networkid.UserID{a, ImportedUserID(Telegram, "", "x")} {
		n, err := ParseImportedUserID(id)
		if err != nil || string(id)[:2] != string(n) {
			t.Errorf("ParseImportedUserID(%q) = %q, %v", id, n, err)
		}
	}
}

// Imported ghosts must never parse as real accounts, or a connector would act on them.
func TestImportedUserIDIsNotARealGhost(t *testing.T) {
	wa := ImportedUserID(WhatsApp, "s", "Anna")
	tg := ImportedUserID(Telegram, "s", "Anna")
	if _, err := ParseWAUserID(wa); !errors.Is(err, ErrMalformedID) {
		t.Errorf("ParseWAUserID(%q) err = %v, want malformed", wa, err)
	}
	if _, err := ParseTGUserID(tg); !errors.Is(err, ErrMalformedID) {
		t.Errorf("ParseTGUserID(%q) err = %v, want malformed", tg, err)
	}
	if IsImportedUserID("wa.33612345678") || IsImportedUserID("tg.5000") || IsImportedUserID("tg.c5000") {
		t.Error("a real ghost ID was taken for an imported one")
	}
}

func TestParseImportedUserIDMalformed(t *testing.T) {
	good := string(ImportedUserID(WhatsApp, "s", "Anna"))
	for _, id := range []string{
		"wa.imp.",
		"wa.imp.short",
		"xx.imp." + good[7:],
		"wa." + good[7:],
		"wa.imp." + strings.ToUpper(good[7:]),
		"wa.imp." + good[7:] + "a",
		"wa.imp.0" + good[8:],
	} {
		if _, err := ParseImportedUserID(networkid.UserID(id)); !errors.Is(err, ErrMalformedID) {
			t.Errorf("ParseImportedUserID(%q) err = %v, want ErrMalformedID", id, err)
		}
	}
}
