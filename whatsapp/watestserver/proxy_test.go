package watestserver

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

// TestClientThroughProxy connects the way another process does: through the CONNECT proxy, with
// the test CA as its only extra TLS root.
func TestClientThroughProxy(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	tc := newTestClient(t, srv, "proxied")
	srv.ConfigureClientViaProxy(tc.cli)
	if _, err := srv.PairClient(ctx, tc.cli, "33699999999"); err != nil {
		t.Fatalf("pair through proxy: %v", err)
	}
	if _, _, err := WaitFor[*events.Connected](ctx, tc.log, 0, nil); err != nil {
		t.Fatal(err)
	}
}

func TestProxyRoutes(t *testing.T) {
	srv := startServer(t)
	client := srv.ProxyHTTPClient()
	cases := []struct {
		url        string
		wantStatus int
		wantErr    bool
	}{
		// A media download of a file that does not exist: reaches the server, which says 404.
		{url: "https://mmg.whatsapp.net/v/t62.7118-24/nothing", wantStatus: http.StatusNotFound},
		{url: "https://media-cdg4-1.cdn.whatsapp.net/v/t62.7118-24/nothing", wantStatus: http.StatusNotFound},
		// Anything that is not WhatsApp is refused by the proxy.
		{url: "https://example.com/", wantErr: true},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			resp, err := client.Get(tc.url)
			if tc.wantErr {
				if err == nil {
					resp.Body.Close()
					t.Fatal("request went through")
				}
				if !strings.Contains(err.Error(), "Forbidden") {
					t.Fatalf("err = %v, want the proxy's 403", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			_, _ = io.Copy(io.Discard, resp.Body)
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.wantStatus)
			}
		})
	}

	// Plain HTTP through the proxy (not CONNECT) is refused.
	req, _ := http.NewRequest(http.MethodGet, srv.ProxyURL()+"/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET to the proxy: status %d, want 405", resp.StatusCode)
	}
}
