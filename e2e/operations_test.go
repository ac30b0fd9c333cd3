package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sample is one line of the Prometheus text format: name, labels and value.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// scrapeMetrics fetches /metrics from the bridge's appservice listener and parses the text format
// (only what Passerelle's series use: no escaped quotes or commas in label values).
func scrapeMetrics(t *testing.T, base string) (samples []sample, help map[string]string) {
	t.Helper()
	status, body, ctype := httpGet(t, base+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: HTTP %d: %s", status, body)
	}
	if !strings.HasPrefix(ctype, "text/plain") {
		t.Errorf("GET /metrics: Content-Type %q, want the Prometheus text format", ctype)
	}
	help = map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(body))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, text, _ := strings.Cut(rest, " ")
			help[name] = text
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		s := sample{labels: map[string]string{}}
		series, value, ok := strings.Cut(line, " ")
		if !ok {
			t.Fatalf("metrics line %q has no value", line)
		}
		var err error
		if s.value, err = strconv.ParseFloat(strings.Fields(value)[0], 64); err != nil {
			t.Fatalf("metrics line %q: value: %v", line, err)
		}
		name, labels, hasLabels := strings.Cut(series, "{")
		s.name = name
		if hasLabels {
			for _, kv := range strings.Split(strings.TrimSuffix(labels, "}"), ",") {
				k, v, _ := strings.Cut(kv, "=")
				s.labels[k] = strings.Trim(v, `"`)
			}
		}
		samples = append(samples, s)
	}
	return samples, help
}

func httpGet(t *testing.T, u string) (status int, body, contentType string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatalf("GET %s: read: %v", u, err)
	}
	return resp.StatusCode, string(raw), resp.Header.Get("Content-Type")
}

// find returns the samples named name whose labels include want.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

// testOperatorEndpoints: what docs/operations.md tells an operator to watch is there on the
// running bridge, after the permission test left one Telegram login (the admin's) and a DM portal.
func testOperatorEndpoints(t *testing.T, g *guarded) {
	base := g.br.Address

	t.Run("Metrics", func(t *testing.T) {
		samples, help := scrapeMetrics(t, base)
		// Series that exist as soon as there is a login and a portal.
		must := []struct {
			name   string
			labels map[string]string
			check  func(v float64) bool
			want   string
		}{
			{"passerelle_logins", map[string]string{"network": "tg", "state": "CONNECTED"}, func(v float64) bool { return v == 1 }, "1 connected Telegram login"},
			{"passerelle_rows", map[string]string{"table": "portal", "network": "tg"}, func(v float64) bool { return v >= 1 }, "at least the admin's DM portal"},
			{"passerelle_rows", map[string]string{"table": "ghost", "network": "tg"}, func(v float64) bool { return v >= 1 }, "at least Bob's ghost"},
			{"go_goroutines", nil, func(v float64) bool { return v > 0 }, "goroutines of the bridge process"},
			{"process_resident_memory_bytes", nil, func(v float64) bool { return v > 0 }, "resident memory"},
			{"process_open_fds", nil, func(v float64) bool { return v > 0 }, "open file descriptors"},
		}
		for _, m := range must {
			got := find(samples, m.name, m.labels)
			if len(got) != 1 {
				t.Errorf("%s%v: %d samples, want exactly 1 (%s)", m.name, m.labels, len(got), m.want)
				continue
			}
			if !m.check(got[0].value) {
				t.Errorf("%s%v = %v, want %s", m.name, m.labels, got[0].value, m.want)
			}
		}
		// No WhatsApp login exists, so no WhatsApp login series either (a gauge per state, only
		// for states some login is in).
		if got := find(samples, "passerelle_logins", map[string]string{"network": "wa"}); len(got) != 0 {
			t.Errorf("WhatsApp login series without a WhatsApp login: %+v", got)
		}
		for _, name := range []string{"passerelle_logins", "passerelle_rows"} {
			if help[name] == "" {
				t.Errorf("%s has no HELP text", name)
			}
		}
		// The event series are counters and histograms that appear with their first event; when
		// present they carry the documented labels.
		for _, s := range samples {
			if s.name == "passerelle_messages_total" {
				for _, l := range []string{"network", "direction", "kind", "outcome"} {
					if s.labels[l] == "" {
						t.Errorf("passerelle_messages_total sample without %s: %v", l, s.labels)
					}
				}
			}
		}
	})

	t.Run("Health", func(t *testing.T) {
		status, body, ctype := httpGet(t, base+"/_passerelle/health")
		if status != http.StatusOK {
			t.Fatalf("health: HTTP %d: %s", status, body)
		}
		if !strings.HasPrefix(ctype, "application/json") {
			t.Errorf("health Content-Type %q", ctype)
		}
		var h struct {
			OK       bool                      `json:"ok"`
			Database string                    `json:"database"`
			Logins   map[string]map[string]int `json:"logins"`
		}
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("health body %q: %v", body, err)
		}
		if !h.OK || h.Database != "ok" {
			t.Errorf("health with the database up: %+v", h)
		}
		if h.Logins["tg"]["CONNECTED"] != 1 {
			t.Errorf("health logins %v, want tg: {CONNECTED: 1}", h.Logins)
		}
	})

	t.Run("LiveAndReady", func(t *testing.T) {
		for _, p := range []string{"/_matrix/mau/live", "/_matrix/mau/ready"} {
			if status, body, _ := httpGet(t, base+p); status != http.StatusOK {
				t.Errorf("GET %s: HTTP %d: %s", p, status, body)
			}
		}
	})

	t.Run("AuditInLogs", func(t *testing.T) {
		// Every audit row is also a JSON log line with component=audit, as documented.
		raw := g.br.LogTail(1 << 30)
		found, refusal := false, false
		for _, line := range strings.Split(raw, "\n") {
			var l map[string]any
			if json.Unmarshal([]byte(line), &l) != nil {
				continue
			}
			if l["component"] == "audit" && l["action"] == "login" && l["outcome"] == "ok" && l["target"] == g.adminLogin {
				found = true
			}
			// The provisioning refusals of the permission matrix, with where they came from.
			if l["component"] == "audit" && l["action"] == "provisioning" && l["outcome"] == "refused" {
				if d, ok := l["details"].(map[string]any); ok && d["remote_addr"] == "127.0.0.1" && d["reason"] != "" {
					refusal = true
				}
			}
			if strings.Contains(line, g.br.SharedSecret) || strings.Contains(line, g.br.Registration.ServerToken) || strings.Contains(line, g.br.Registration.AppToken) {
				t.Errorf("a log line holds a secret from the config: %.200s", line)
			}
		}
		if !found {
			t.Error(fmt.Sprintf("no component=audit log line for the admin's login %s", g.adminLogin))
		}
		if !refusal {
			t.Error("no component=audit log line for a refused provisioning request")
		}
	})
}
