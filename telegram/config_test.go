package telegram

import (
	"reflect"
	"strings"
	"testing"

	up "go.mau.fi/util/configupgrade"
	"gopkg.in/yaml.v3"
)

const testPEM = `-----BEGIN RSA PUBLIC KEY-----
MIIBCgKCAQEAwVACPi9w23mF3tBkdZz+zwrzKOaaQdr01vAbU4E1pvkfj4sqDsm6
lyDONS789sVoD/xCS9Y0hkkC3gtL1tSfTlgCMOOul9lcixlEKzwKENj1Yz/s7daS
an9tqw3bfUV/nqgbhGX81v/+7RFAEd+RwFnK7a+XYl9sluzHRyVVaTTveB2GazTw
Efzk2DWgkBluml8OREmvfraX3bkHZJTKX4EQSjBbbdJ2ZXIsRrYOXfaA+xayEGB+
8hdlLmAjbCVfaigxX0CDqWeR1yFL9kwd9P0NsZRPsmoqVwMbMu7mStFai6aIhc3n
Slv8kg9qv1m6XHVQY3PnEw+QQtqSIXklHwIDAQAB
-----END RSA PUBLIC KEY-----
`

// TestConfigRoundTrip writes a section with every key changed from the example and checks the
// upgrader (run by -e, -g and every start) keeps each of them.
func TestConfigRoundTrip(t *testing.T) {
	written := Config{
		Enabled: false,
		APIID:   12345,
		APIHash: "0123456789abcdef0123456789abcdef",
		Server: ServerConfig{
			DC:         4,
			DCOptions:  []DCOption{{ID: 4, Address: "127.0.0.1:4430"}, {ID: 5, Address: "[::1]:4431"}},
			PublicKeys: []string{testPEM},
		},
		RequestRate:  2.5,
		RequestBurst: 4,
	}
	data, err := yaml.Marshal(&written)
	if err != nil {
		t.Fatal(err)
	}
	example, _, upgrader := NewConnector().GetConfig()
	out, err := up.DoBytes(data, &up.StructUpgrader{SimpleUpgrader: upgrader.DoUpgrade, Base: example})
	if err != nil {
		t.Fatal(err)
	}
	var read Config
	if err := yaml.Unmarshal(out, &read); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(read, written) {
		t.Fatalf("round trip lost keys:\nwrote %+v\nread  %+v\n%s", written, read, out)
	}
}

func TestConfigValidate(t *testing.T) {
	server := ServerConfig{DC: 2, DCOptions: []DCOption{{ID: 2, Address: "127.0.0.1:4430"}}, PublicKeys: []string{testPEM}}
	hash := "0123456789abcdef0123456789abcdef"
	tests := []struct {
		name string
		cfg  Config
		want string // substring of the error; "" for valid
	}{
		{"disabled is always valid", Config{Enabled: false, APIID: -1}, ""},
		{"production without credentials", Config{Enabled: true}, ""},
		{"production with credentials", Config{Enabled: true, APIID: 1, APIHash: hash}, ""},
		{"test server", Config{Enabled: true, APIID: 1, APIHash: hash, Server: server}, ""},
		{"negative id", Config{Enabled: true, APIID: -5, APIHash: hash}, "api_id"},
		{"id without hash", Config{Enabled: true, APIID: 5}, "set together"},
		{"short hash", Config{Enabled: true, APIID: 5, APIHash: "abc"}, "32-character"},
		{"server without keys", Config{Enabled: true, APIID: 1, APIHash: hash, Server: ServerConfig{DC: 2, DCOptions: server.DCOptions}}, "must all be set"},
		{"dc not listed", Config{Enabled: true, APIID: 1, APIHash: hash, Server: ServerConfig{DC: 3, DCOptions: server.DCOptions, PublicKeys: server.PublicKeys}}, "DC 3 has no entry"},
		{"bad address", Config{Enabled: true, APIID: 1, APIHash: hash, Server: ServerConfig{DC: 2, DCOptions: []DCOption{{ID: 2, Address: "nowhere"}}, PublicKeys: server.PublicKeys}}, "dc_options[0]"},
		{"no proactive limit", Config{Enabled: true, RequestRate: 0, RequestBurst: 0}, ""},
		{"paced", Config{Enabled: true, RequestRate: 20, RequestBurst: 30}, ""},
		{"negative rate", Config{Enabled: true, RequestRate: -1, RequestBurst: 30}, "request_rate"},
		{"rate without burst", Config{Enabled: true, RequestRate: 20}, "request_burst"},
		{"bad key", Config{Enabled: true, APIID: 1, APIHash: hash, Server: ServerConfig{DC: 2, DCOptions: server.DCOptions, PublicKeys: []string{"not a key"}}}, "public_keys[0]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error = %v, want it to mention %q", err, tc.want)
			}
		})
	}
}

func TestClientOptions(t *testing.T) {
	prod := Config{APIID: 1, APIHash: "0123456789abcdef0123456789abcdef", RequestRate: DefaultRequestRate, RequestBurst: DefaultRequestBurst}
	opts, err := prod.clientOptions(testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if !opts.EnablePFS || len(opts.PublicKeys) != 0 || opts.DC != 0 || len(opts.Middlewares) != 1 {
		t.Errorf("production options: PFS=%v keys=%d dc=%d middlewares=%d; want PFS on, gotd's own keys and DCs, a rate limit",
			opts.EnablePFS, len(opts.PublicKeys), opts.DC, len(opts.Middlewares))
	}
	custom := prod
	custom.Server = ServerConfig{DC: 2, DCOptions: []DCOption{{ID: 2, Address: "127.0.0.1:4430"}}, PublicKeys: []string{testPEM}}
	opts, err = custom.clientOptions(testLogger(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	if opts.EnablePFS || len(opts.PublicKeys) != 1 || opts.DC != 2 || len(opts.DCList.Options) != 1 ||
		opts.DCList.Options[0].IPAddress != "127.0.0.1" || opts.DCList.Options[0].Port != 4430 {
		t.Errorf("test server options: PFS=%v keys=%d dc=%d list=%+v", opts.EnablePFS, len(opts.PublicKeys), opts.DC, opts.DCList.Options)
	}
	unpaced := custom
	unpaced.RequestRate = 0
	if opts, err = unpaced.clientOptions(testLogger(t), nil); err != nil || len(opts.Middlewares) != 0 {
		t.Errorf("request_rate 0: %d middlewares, err %v; want no rate limit", len(opts.Middlewares), err)
	}
}

// TestExampleConfigPacing: the example (the base of every written config) keeps the pacing that
// was hard-coded before it became a setting.
func TestExampleConfigPacing(t *testing.T) {
	var c Config
	if err := yaml.Unmarshal([]byte(ExampleConfig), &c); err != nil {
		t.Fatal(err)
	}
	if c.RequestRate != DefaultRequestRate || c.RequestBurst != DefaultRequestBurst {
		t.Errorf("example request_rate %g, request_burst %d; want %d, %d", c.RequestRate, c.RequestBurst, DefaultRequestRate, DefaultRequestBurst)
	}
}
