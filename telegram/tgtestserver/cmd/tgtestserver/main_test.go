package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"gopkg.in/yaml.v3"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

func TestParseUser(t *testing.T) {
	tests := []struct {
		in      string
		want    tgtestserver.UserSpec
		wantErr bool
	}{
		{in: "+33600000001=Alice", want: tgtestserver.UserSpec{Phone: "+33600000001", FirstName: "Alice"}},
		{in: "+33600000002=Bob Martin@bobm:s3cret", want: tgtestserver.UserSpec{Phone: "+33600000002", FirstName: "Bob", LastName: "Martin", Username: "bobm", Password: "s3cret"}},
		{in: "+33600000003=Carol@carol", want: tgtestserver.UserSpec{Phone: "+33600000003", FirstName: "Carol", Username: "carol"}},
		{in: "Alice", wantErr: true},
		{in: "+336=", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := parseUser(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The written config section parses back to the server's address and key.
func TestConfigYAMLRoundTrip(t *testing.T) {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	var cfg struct {
		Server struct {
			DC        int `yaml:"dc"`
			DCOptions []struct {
				ID      int    `yaml:"id"`
				Address string `yaml:"address"`
			} `yaml:"dc_options"`
			PublicKeys []string `yaml:"public_keys"`
		} `yaml:"server"`
	}
	if err := yaml.Unmarshal([]byte(configYAML(srv)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Server.DC != 2 || len(cfg.Server.DCOptions) != 1 || cfg.Server.DCOptions[0].Address != srv.Addr() {
		t.Fatalf("config = %+v", cfg)
	}
	keys, err := tgtestserver.ParsePublicKeysPEM(cfg.Server.PublicKeys)
	if err != nil || len(keys) != 1 || keys[0].RSA.N.Cmp(srv.PublicKey().RSA.N) != 0 {
		t.Fatalf("keys = %v, %v", keys, err)
	}
}

func TestAdminAPI(t *testing.T) {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	alice, _ := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000001", FirstName: "Alice"})
	bob, _ := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000002", FirstName: "Bob"})
	h := httptest.NewServer(adminHandler(srv))
	defer h.Close()

	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{name: "no code yet", method: "GET", path: "/code?phone=33600000001", want: 404},
		{name: "send DM", method: "POST", path: "/send", body: `{"from":"+33600000002","to_phone":"+33600000001","text":"hi"}`, want: 200},
		{name: "send without target", method: "POST", path: "/send", body: `{"from":"+33600000002","text":"hi"}`, want: 400},
		{name: "unknown sender", method: "POST", path: "/send", body: `{"from":"+1999","to_phone":"+33600000001","text":"hi"}`, want: 404},
		{name: "bad QR URL", method: "POST", path: "/qr", body: `{"phone":"+33600000001","url":"https://x"}`, want: 400},
		{name: "bad JSON", method: "POST", path: "/qr", body: `{`, want: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, h.URL+tt.path, strings.NewReader(tt.body))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", res.StatusCode, tt.want)
			}
		})
	}
	if got := srv.History(alice.ID(), tgtestserver.UserPeer(bob.ID())); len(got) != 1 || got[0].Text != "hi" {
		t.Fatalf("alice's history = %+v", got)
	}
}
