package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestPprof(t *testing.T) {
	cases := []struct {
		name, env string
		wantErr   string // "" when it must start (or stay off)
	}{
		{"off", "", ""},
		{"loopback", "127.0.0.1:0", ""},
		{"no port", "127.0.0.1", PprofEnv},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(PprofEnv, tc.env)
			addr, err := startPprof()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.env == "" {
				if addr != "" {
					t.Fatalf("profiler on %s while %s is unset", addr, PprofEnv)
				}
				return
			}
			resp, err := http.Get("http://" + addr + "/debug/pprof/goroutine?debug=1")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "goroutine") {
				t.Fatalf("goroutine profile: %d %.200s", resp.StatusCode, body)
			}
		})
	}
}
