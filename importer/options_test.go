package importer

import (
	"strings"
	"testing"

	"github.com/passerelle-bridge/passerelle/importer/waexport"
	"github.com/passerelle-bridge/passerelle/portal"
)

func TestParseCommandArgs(t *testing.T) {
	cases := []struct {
		raw     string
		network string
		opts    Options
		err     string
	}{
		{raw: "telegram", network: "telegram"},
		{raw: `whatsapp --me "Anna Maria" --chat=+33612345678 --tz Europe/Paris --date-order mdy`, network: "whatsapp",
			opts: Options{Me: "Anna Maria", Chat: "+33612345678", TZ: "Europe/Paris", DateOrder: "mdy"}},
		{raw: "telegram --room !abc:example.org", network: "telegram", opts: Options{Room: "!abc:example.org"}},
		{raw: "", err: "say which app"},
		{raw: "telegram --colour blue", err: `unknown option "--colour"`},
		{raw: "whatsapp --me", err: "--me needs a value"},
		{raw: `whatsapp --me "unterminated`, err: "arguments"},
	}
	for _, tc := range cases {
		network, opts, err := parseCommandArgs(tc.raw)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.raw, err, tc.err)
			}
			continue
		}
		if err != nil || network != tc.network || opts != tc.opts {
			t.Errorf("%q = %q %+v %v; want %q %+v", tc.raw, network, opts, err, tc.network, tc.opts)
		}
	}
}

func TestOptionsRequest(t *testing.T) {
	cases := []struct {
		network string
		opts    Options
		want    portal.Network
		order   waexport.DateOrder
		err     string
	}{
		{network: "telegram", want: portal.Telegram},
		{network: "WA", opts: Options{DateOrder: "d/m/y", TZ: "Europe/Paris"}, want: portal.WhatsApp, order: waexport.DayMonthYear},
		{network: "signal", err: `network "signal"`},
		{network: "telegram", opts: Options{Chat: "+33612345678"}, err: "only WhatsApp exports need it"},
		{network: "telegram", opts: Options{DateOrder: "dmy"}, err: "only WhatsApp exports need it"},
		{network: "whatsapp", opts: Options{DateOrder: "dym"}, err: "use dmy"},
		{network: "whatsapp", opts: Options{TZ: "Mars/Olympus"}, err: "not a time zone"},
		{network: "whatsapp", opts: Options{Room: "#alias:example.org"}, err: "give the room ID"},
		{network: "whatsapp", opts: Options{Chat: "0612345678"}, err: "country code"},
	}
	for _, tc := range cases {
		req, err := tc.opts.request(nil, tc.network)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s %+v: err = %v, want %q", tc.network, tc.opts, err, tc.err)
			}
			continue
		}
		if err != nil || req.Network != tc.want || req.DateOrder != tc.order || (tc.opts.TZ != "") != (req.Location != nil) {
			t.Errorf("%s %+v = %+v, %v", tc.network, tc.opts, req, err)
		}
	}
}

func TestParseWAChat(t *testing.T) {
	cases := map[string]string{
		"+33 6 12 34 56 78":            "33612345678@s.whatsapp.net",
		"+49 (151) 123-45678":          "4915112345678@s.whatsapp.net",
		"120363025246125888@g.us":      "120363025246125888@g.us",
		"33612345678:3@s.whatsapp.net": "33612345678@s.whatsapp.net",
		"+33 6 12 AB":                  "",
		"@g.us":                        "",
		"+123":                         "",
	}
	for in, want := range cases {
		jid, err := parseWAChat(in)
		if want == "" {
			if err == nil {
				t.Errorf("parseWAChat(%q) = %s, want an error", in, jid)
			}
			continue
		}
		if err != nil || jid.String() != want {
			t.Errorf("parseWAChat(%q) = %s, %v; want %s", in, jid, err, want)
		}
	}
}

func TestTxnIDStable(t *testing.T) {
	a, b := txnID("tg.c1|", "tg:1:2"), txnID("tg.c1|", "tg:1:2")
	if a != b || a == txnID("tg.c1|", "tg:1:3") || a == txnID("tg.c2|", "tg:1:2") || !strings.HasPrefix(a, "passerelle-import-") {
		t.Errorf("txnID not stable per (scope, key): %s %s", a, b)
	}
}
