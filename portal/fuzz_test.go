package portal

import (
	"errors"
	"strings"
	"testing"

	"maunium.net/go/mautrix/bridgev2/networkid"
)

// Fuzz targets for every ID parser of this package. The property is the same for all: an ID
// either fails to parse with an error wrapping ErrMalformedID or ErrForeignID, or it parses and
// the encoder gives back exactly the same string. An ID that parses but re-encodes differently
// would let two strings name one chat, ghost, login or message, so a row stored under one would
// be missed under the other.
//
// `go test` runs the seed corpus (f.Add plus testdata/fuzz/<Name>/); explore with e.g.
//
//	CGO_ENABLED=1 go test -tags goolm -run '^$' -fuzz '^FuzzParseTGMessageID$' -fuzztime 30s ./portal/

// seedIDs are inputs every parser gets: both prefixes, each ID shape, and the edge cases the
// parsers were written against.
var seedIDs = []string{
	"", ".", "wa.", "tg.", "xx.1", "WA.1", "tg", "wa",
	"tg.u123", "tg.g123", "tg.c123", "tg.c123.t45", "tg.u123.t45", "tg.c123.t0", "tg.c123.t-1", "tg.c123.x",
	"tg.123", "tg.c123", "tg.u0", "tg.u-5", "tg.u9223372036854775807", "tg.u9223372036854775808",
	"tg.u123.45", "tg.c123.45", "tg.g123.45", "tg.u123.0", "tg.u123.",
	"wa.33612345678@s.whatsapp.net", "wa.120363025246125888@g.us", "wa.204458913042512@lid",
	"wa.status@broadcast", "wa.@broadcast", "wa.33612345678", "wa.lid-204458913042512", "wa.lid-",
	"wa.33612345678@s.whatsapp.net/33612345678@s.whatsapp.net/3EB0ABCDEF",
	"wa.120363025246125888@g.us/204458913042512@lid/ABC/DEF", "wa.a/b/", "wa.//x",
	"wa.imp.mfrggzdfmztwq2lknnwg23tpoa", "tg.imp.MFRGGZDFMZTWQ2LKNNWG23TPOA", "wa.imp.",
}

func addSeeds(f *testing.F) {
	for _, s := range seedIDs {
		f.Add(s)
	}
}

// checkParseError fails unless err says what kind of bad ID it was.
func checkParseError(t *testing.T, fn, in string, err error) {
	t.Helper()
	if !errors.Is(err, ErrMalformedID) && !errors.Is(err, ErrForeignID) {
		t.Fatalf("%s(%q): error %v wraps neither ErrMalformedID nor ErrForeignID", fn, in, err)
	}
	if !strings.Contains(err.Error(), "ID") {
		t.Errorf("%s(%q): error %q does not say which kind of ID was bad", fn, in, err)
	}
}

func FuzzNetworkOf(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		n, err := NetworkOf(in)
		if err != nil {
			if !errors.Is(err, ErrMalformedID) {
				t.Fatalf("NetworkOf(%q): error %v does not wrap ErrMalformedID", in, err)
			}
			return
		}
		if !n.Valid() || !strings.HasPrefix(in, string(n)+".") {
			t.Fatalf("NetworkOf(%q) = %q, which is not the ID's prefix", in, n)
		}
		// Require agrees with NetworkOf about the network.
		for _, other := range Networks {
			err := Require(other, "ID", in)
			switch {
			case other != n && !errors.Is(err, ErrForeignID):
				t.Fatalf("Require(%s, %q) = %v, want ErrForeignID", other, in, err)
			case other == n && in == string(n)+"." && !errors.Is(err, ErrMalformedID):
				t.Fatalf("Require(%s, %q) = %v, want ErrMalformedID for an empty ID", other, in, err)
			case other == n && in != string(n)+"." && err != nil:
				t.Fatalf("Require(%s, %q) = %v, want nil", other, in, err)
			}
		}
	})
}

func FuzzParseTGPortalID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		peer, topic, err := ParseTGPortalID(networkid.PortalID(in))
		if err != nil {
			checkParseError(t, "ParseTGPortalID", in, err)
			return
		}
		if back := TGPortalID(peer, topic); string(back) != in {
			t.Fatalf("ParseTGPortalID(%q) = %v topic %d, which encodes as %q", in, peer, topic, back)
		}
	})
}

func FuzzParseTGUserID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		peer, err := ParseTGUserID(networkid.UserID(in))
		if err != nil {
			checkParseError(t, "ParseTGUserID", in, err)
			return
		}
		if back := TGUserID(peer); string(back) != in {
			t.Fatalf("ParseTGUserID(%q) = %v, which encodes as %q", in, peer, back)
		}
		if IsImportedUserID(networkid.UserID(in)) {
			t.Fatalf("%q parses both as a Telegram user and as an imported ghost", in)
		}
	})
}

func FuzzParseTGLoginID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ParseTGLoginID(networkid.UserLoginID(in))
		if err != nil {
			checkParseError(t, "ParseTGLoginID", in, err)
			return
		}
		if back := TGLoginID(n); string(back) != in {
			t.Fatalf("ParseTGLoginID(%q) = %d, which encodes as %q", in, n, back)
		}
	})
}

func FuzzParseTGMessageID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		scope, msgID, err := ParseTGMessageID(networkid.MessageID(in))
		if err != nil {
			checkParseError(t, "ParseTGMessageID", in, err)
			return
		}
		if back := TGMessageID(scope, msgID); string(back) != in {
			t.Fatalf("ParseTGMessageID(%q) = %v msg %d, which encodes as %q", in, scope, msgID, back)
		}
	})
}

func FuzzParseWAPortalID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		jid, err := ParseWAPortalID(networkid.PortalID(in))
		if err != nil {
			checkParseError(t, "ParseWAPortalID", in, err)
			return
		}
		if back := WAPortalID(jid); string(back) != in {
			t.Fatalf("ParseWAPortalID(%q) = %s, which encodes as %q", in, jid, back)
		}
	})
}

func FuzzParseWAUserID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		jid, err := ParseWAUserID(networkid.UserID(in))
		if err != nil {
			checkParseError(t, "ParseWAUserID", in, err)
			return
		}
		if back := WAUserID(jid); string(back) != in {
			t.Fatalf("ParseWAUserID(%q) = %s, which encodes as %q", in, jid, back)
		}
		if IsImportedUserID(networkid.UserID(in)) {
			t.Fatalf("%q parses both as a WhatsApp user and as an imported ghost", in)
		}
	})
}

func FuzzParseWALoginID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		jid, err := ParseWALoginID(networkid.UserLoginID(in))
		if err != nil {
			checkParseError(t, "ParseWALoginID", in, err)
			return
		}
		if back := WALoginID(jid); string(back) != in {
			t.Fatalf("ParseWALoginID(%q) = %s, which encodes as %q", in, jid, back)
		}
	})
}

func FuzzParseWAMessageID(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, in string) {
		ref, err := ParseWAMessageID(networkid.MessageID(in))
		if err != nil {
			checkParseError(t, "ParseWAMessageID", in, err)
			return
		}
		if back := ref.MessageID(); string(back) != in {
			t.Fatalf("ParseWAMessageID(%q) = %+v, which encodes as %q", in, ref, back)
		}
	})
}

func FuzzParseImportedUserID(f *testing.F) {
	addSeeds(f)
	f.Add(string(ImportedUserID(WhatsApp, "@alice:example.org", "Anna")))
	f.Add(string(ImportedUserID(Telegram, "@alice:example.org", "Анна")))
	f.Fuzz(func(t *testing.T, in string) {
		n, err := ParseImportedUserID(networkid.UserID(in))
		if err != nil {
			checkParseError(t, "ParseImportedUserID", in, err)
			return
		}
		// No encoder takes the hash back, so check the parts: the prefix is the network and the
		// hash is the canonical encoding of its own bytes.
		hash := strings.TrimPrefix(in, string(n)+"."+importedNamespace)
		raw, err := importedEncoding.DecodeString(strings.ToUpper(hash))
		if err != nil || strings.ToLower(importedEncoding.EncodeToString(raw)) != hash {
			t.Fatalf("ParseImportedUserID(%q) accepted hash %q, which is not canonical base32", in, hash)
		}
		if _, err := ParseTGUserID(networkid.UserID(in)); err == nil {
			t.Fatalf("imported ghost %q also parses as a Telegram user", in)
		}
		if _, err := ParseWAUserID(networkid.UserID(in)); err == nil {
			t.Fatalf("imported ghost %q also parses as a WhatsApp user", in)
		}
	})
}
