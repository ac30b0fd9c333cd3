package watestserver

import (
	"strings"
	"testing"

	"go.mau.fi/whatsmeow"
)

// TestHandshakeNeedsTheRootKey: a client that does not trust the server's root key refuses it, so
// the Noise certificate chain is really checked.
func TestHandshakeNeedsTheRootKey(t *testing.T) {
	srv := startServer(t)
	tc := newTestClient(t, srv, "distrustful")
	other, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	prev := whatsmeow.WACertPubKey
	whatsmeow.WACertPubKey = other.RootPublicKey()
	defer func() { whatsmeow.WACertPubKey = prev }()
	err = tc.cli.Connect()
	if err == nil || !strings.Contains(err.Error(), "verify server cert") {
		t.Fatalf("connect with the wrong root key: err = %v, want a certificate error", err)
	}
}

func TestIsWhatsAppHost(t *testing.T) {
	cases := map[string]bool{
		"web.whatsapp.com":               true,
		"mmg.whatsapp.net":               true,
		"media.fcdg1-1.fna.whatsapp.net": true,
		"WHATSAPP.NET":                   true,
		"whatsapp.com.evil.example":      false,
		"notwhatsapp.net":                false,
		"example.com":                    false,
		"127.0.0.1":                      false,
	}
	for host, want := range cases {
		if got := isWhatsAppHost(host); got != want {
			t.Errorf("isWhatsAppHost(%q) = %v, want %v", host, got, want)
		}
	}
}
