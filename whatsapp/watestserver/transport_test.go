package watestserver

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
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

// TestBadClientsAreDropped: connections that do not speak the protocol are closed without
// disturbing the server.
func TestBadClientsAreDropped(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	cases := []struct {
		name   string
		frames [][]byte
	}{
		{"wrong header", [][]byte{[]byte("HTTP/1.1 hello")}},
		{"not a handshake", [][]byte{append(append([]byte{}, connHeader...), 0, 0, 3, 1, 2, 3)}},
		{"short ephemeral", [][]byte{append(append([]byte{}, connHeader...), 0, 0, 4, 0x12, 0x02, 0x0a, 0x00)}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ws, _, err := websocket.Dial(ctx, "wss://web.whatsapp.com/ws/chat", &websocket.DialOptions{HTTPClient: srv.HTTPClient()})
			if err != nil {
				t.Fatal(err)
			}
			defer ws.CloseNow()
			for _, f := range tc.frames {
				if err = ws.Write(ctx, websocket.MessageBinary, f); err != nil {
					t.Fatal(err)
				}
			}
			readCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
			defer cancel()
			if _, _, err = ws.Read(readCtx); err == nil {
				t.Fatal("the server answered garbage")
			}
			if readCtx.Err() != nil {
				t.Fatal("the server kept the connection open")
			}
		})
	}
	// The server still works.
	tc := newTestClient(t, srv, "after")
	if _, err := srv.PairClient(ctx, tc.cli, "33677777777"); err != nil {
		t.Fatal(err)
	}
}

// TestStreamError515Reconnects: code 515 makes whatsmeow reconnect at once.
func TestStreamError515Reconnects(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	tc := pairedClient(t, srv, "restart", "33688888888")
	from := len(tc.log.Events())
	if err := srv.SendStreamError(tc.cli.Store.GetJID(), "515", ""); err != nil {
		t.Fatal(err)
	}
	if _, _, err := WaitFor[*events.Connected](ctx, tc.log, from, nil); err != nil {
		t.Fatal(err)
	}
	if err := srv.SendStreamError(types.NewJID("33600000009", types.DefaultUserServer), "515", ""); err == nil {
		t.Fatal("stream error to an unknown device succeeded")
	}
}
