package bench

import (
	"context"
	"encoding/csv"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestRunShort runs the whole benchmark at a tiny size, so CI proves `make bench` works: every
// path delivers every message, the seeded rows are there and the bridge starts on them, and the
// table and CSV carry the figures. It needs what the e2e tests need (PostgreSQL, Dendrite in the
// cache or the module proxy to build it, cgo).
//
// The encrypted run (Options.Encrypted) does the same with end-to-bridge encryption on: every
// message arrives decrypted at the crypto clients, and there is no appservice leg.
func TestRunShort(t *testing.T) {
	for _, encrypted := range []bool{false, true} {
		name := "plain"
		if encrypted {
			name = "encrypted"
		}
		t.Run(name, func(t *testing.T) { runShort(t, encrypted) })
	}
}

func runShort(t *testing.T, encrypted bool) {
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	const n = 5
	seed := Seed{Portals: 200, Ghosts: 1000}
	var progress strings.Builder
	res, err := Run(ctx, Options{N: n, Seed: seed, Progress: &progress, Encrypted: encrypted})
	if err != nil {
		t.Fatalf("Run: %v\nprogress:\n%s", err, progress.String())
	}
	if res.Encrypted != encrypted {
		t.Errorf("results say encrypted=%v", res.Encrypted)
	}
	for _, c := range res.Comparisons {
		if measured := len(c.AppService.Latencies) > 0; measured == encrypted && (c.Key == "r2m" || c.Key == "wa_r2m") {
			t.Errorf("%s: appservice leg measured=%v in a run with encryption=%v", c.Key, measured, encrypted)
		}
	}
	// Telegram both ways (Matrix → Telegram at the example's pacing and without), WhatsApp both ways.
	var keys []string
	for _, c := range res.Comparisons {
		keys = append(keys, c.Key)
		for name, s := range map[string]Sample{"bridge": c.Bridge, "matrix": c.Matrix, c.RemoteKey: c.Remote} {
			if len(s.Latencies) != n || s.BurstN != n || s.Throughput() <= 0 || s.P50() <= 0 {
				t.Errorf("%s %s: %d latencies, burst %d in %s", c.Direction, name, len(s.Latencies), s.BurstN, s.BurstWall)
			}
		}
	}
	if got, want := strings.Join(keys, ","), "r2m,m2r,m2r_unpaced,wa_r2m,wa_m2r"; got != want {
		t.Errorf("comparisons %s, want %s", got, want)
	}
	// The message phases leave the DM with the contact (and its ghost); seeding adds the rest.
	if res.PortalsSmall < 1 || res.Portals != res.PortalsSmall+seed.Portals || res.Ghosts != res.GhostsSmall+seed.Ghosts {
		t.Errorf("rows: %d portals, %d ghosts before seeding; %d, %d after seeding %+v",
			res.PortalsSmall, res.GhostsSmall, res.Portals, res.Ghosts, seed)
	}
	if res.StartupSeeded <= 0 || res.RSSSeededKB <= 0 || res.HWMSeededKB < res.RSSSeededKB || res.BridgeCPUPerMessage <= 0 {
		t.Errorf("start-up %s, RSS %d kB, peak %d kB, CPU/message %s", res.StartupSeeded, res.RSSSeededKB, res.HWMSeededKB, res.BridgeCPUPerMessage)
	}

	var table strings.Builder
	if err := res.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	mode := "End-to-bridge encryption off"
	if encrypted {
		mode = "End-to-bridge encryption ON"
	}
	for _, want := range []string{mode, "Telegram → Matrix", "Matrix → Telegram, pacing 20 req/s", "pacing off (request_rate 0)", "WhatsApp → Matrix", "Matrix → WhatsApp",
		"whatsmeow → test server → whatsmeow", "ratio bridge/slower baseline", "r2m.added_p99", "wa_m2r.added_p99", "rss.steady"} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, table.String())
		}
	}
	path := filepath.Join(t.TempDir(), "results", "latest.csv")
	if err := res.WriteCSV(path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(records) != len(res.Rows())+1 || records[0][4] != "metric" {
		t.Fatalf("CSV has %d records (want header + %d): %v", len(records), len(res.Rows()), records[:1])
	}
	t.Logf("\n%s", table.String())
}
