package main

import (
	"context"
	"reflect"
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
