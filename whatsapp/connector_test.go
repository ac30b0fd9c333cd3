package whatsapp

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow/store"
)

// rewriteTo sends every request to a test server, whatever its URL.
type rewriteTo struct{ target *url.URL }

func (r rewriteTo) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.URL.Scheme, req.URL.Host = r.target.Scheme, r.target.Host
	return http.DefaultTransport.RoundTrip(req)
}

// TestFetchVersion: the current WhatsApp Web version is taken from web.whatsapp.com at start, so
// an old whatsmeow version is not refused; when the page cannot be fetched, start goes on with
// the built-in version.
func TestFetchVersion(t *testing.T) {
	builtin := store.GetWAVersion()
	defer store.SetWAVersion(builtin)
	page := `<html><script>{"client_revision":1029384756,"other":1}</script></html>`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(page))
	}))
	defer srv.Close()
	target, _ := url.Parse(srv.URL)

	wa := NewConnector()
	wa.versionHTTP = &http.Client{Transport: rewriteTo{target}}
	wa.fetchVersion(context.Background(), zerolog.Nop())
	if got := store.GetWAVersion(); got[2] != 1029384756 {
		t.Fatalf("version after fetch = %v, want revision 1029384756", got)
	}

	// Offline: nothing listens there; the version stays and nothing fails.
	store.SetWAVersion(builtin)
	wa = NewConnector()
	wa.VersionFetchTimeout = 2 * time.Second
	wa.versionHTTP = &http.Client{Transport: rewriteTo{&url.URL{Scheme: "http", Host: "127.0.0.1:1"}}}
	wa.fetchVersion(context.Background(), zerolog.Nop())
	if got := store.GetWAVersion(); got != builtin {
		t.Fatalf("version changed to %v although the fetch failed", got)
	}
}
