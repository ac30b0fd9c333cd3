package whatsapp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

func TestConfigValidate(t *testing.T) {
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err = srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err = os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     Config
		wantErr string // substring naming the field; "" = valid
	}{
		{"empty", Config{Enabled: true}, ""},
		{"disabled ignores the rest", Config{Enabled: false, Proxy: "::bad"}, ""},
		{"http proxy", Config{Enabled: true, Proxy: "http://127.0.0.1:3128"}, ""},
		{"socks proxy", Config{Enabled: true, Proxy: "socks5://proxy:1080"}, ""},
		{"proxy without scheme", Config{Enabled: true, Proxy: "proxy:3128"}, "network.whatsapp.proxy"},
		{"ftp proxy", Config{Enabled: true, Proxy: "ftp://proxy:21"}, "network.whatsapp.proxy"},
		{"test server", Config{Enabled: true, Server: ServerConfig{RootPublicKey: srv.RootPublicKeyBase64(), CAFile: ca}}, ""},
		{"short key", Config{Enabled: true, Server: ServerConfig{RootPublicKey: "AAEC"}}, "root_public_key"},
		{"key not base64", Config{Enabled: true, Server: ServerConfig{RootPublicKey: "not base64!"}}, "root_public_key"},
		{"missing CA", Config{Enabled: true, Server: ServerConfig{CAFile: filepath.Join(dir, "missing.pem")}}, "ca_file"},
		{"CA not PEM", Config{Enabled: true, Server: ServerConfig{CAFile: notPEM}}, "ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Validate() = %v, want valid", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Validate() = %v, want an error naming %s", err, tt.wantErr)
			}
			if err != nil || !tt.cfg.Enabled {
				return
			}
			tr, err := tt.cfg.Transport()
			if err != nil {
				t.Fatalf("Transport() = %v", err)
			}
			if (tt.cfg.Server.CAFile != "") != (tr.TLSClientConfig != nil && tr.TLSClientConfig.RootCAs != nil) {
				t.Errorf("extra CA applied = %v, want %v", tr.TLSClientConfig != nil, tt.cfg.Server.CAFile != "")
			}
			if strings.HasPrefix(tt.cfg.Proxy, "http") != (tr.Proxy != nil) {
				t.Errorf("HTTP proxy set = %v for %q", tr.Proxy != nil, tt.cfg.Proxy)
			}
		})
	}
}

// TestTransportReachesTestServer: the transport built from proxy + ca_file reaches the test
// server's media host through its CONNECT proxy and trusts its certificate.
func TestTransportReachesTestServer(t *testing.T) {
	srv, err := watestserver.Start(watestserver.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err = srv.WriteCAFile(ca); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Enabled: true, Proxy: srv.ProxyURL(), Server: ServerConfig{CAFile: ca}}
	tr, err := cfg.Transport()
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(mustRequest(t, "https://mmg.whatsapp.net/v/nothing-here"))
	if err != nil {
		t.Fatalf("request through proxy and CA: %v", err)
	}
	resp.Body.Close()
	// Without the CA the certificate is refused.
	cfg.Server.CAFile = ""
	tr, _ = cfg.Transport()
	if resp, err = tr.RoundTrip(mustRequest(t, "https://mmg.whatsapp.net/v/nothing-here")); err == nil {
		resp.Body.Close()
		t.Fatal("the test server's certificate was trusted without server.ca_file")
	}
}
