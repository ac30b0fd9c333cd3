package bench

import (
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"
	"time"
)

// Targets the issue sets for the bridge.
const (
	TargetThroughputRatio = 0.9
	TargetAddedP99        = 5 * time.Millisecond
	TargetStartup         = 3 * time.Second
	TargetRSSKB           = 200 * 1024
)

// Results is everything one run measured.
type Results struct {
	N         int
	Seed      Seed
	Started   time.Time
	Machine   Machine
	LoadAfter string
	// Encrypted: the run had end-to-bridge encryption on (Options.Encrypted).
	Encrypted bool

	// Comparisons are the measured paths, Telegram first (r2m, m2r at the configured pacing,
	// m2r_unpaced), then WhatsApp (wa_r2m, wa_m2r).
	Comparisons []Comparison
	// BridgeCPUPerMessage is the bridge process's CPU time (user+system) per bridged message,
	// averaged over every bridge path's phases.
	BridgeCPUPerMessage time.Duration
	// DBSessionsPerMessage is how many new PostgreSQL connections the bridge opened per bridged
	// message (each costs a backend process start on the server).
	DBSessionsPerMessage float64
	// RSSAfterMessagesKB is the bridge's VmRSS after the message phases (few portals).
	RSSAfterMessagesKB int64

	// StartupSmall is the start-up time on the database the message phases left
	// (PortalsSmall, GhostsSmall rows).
	StartupSmall              time.Duration
	PortalsSmall, GhostsSmall int
	// StartupSeeded is the start-up time with Portals and Ghosts rows (after seeding).
	StartupSeeded   time.Duration
	Portals, Ghosts int
	// RSSAtConnectedKB is VmRSS when every login was connected after the seeded start;
	// RSSSeededKB 5 s after a message went through; HWMSeededKB the peak (VmHWM).
	RSSAtConnectedKB, RSSSeededKB, HWMSeededKB int64
}

// Row is one line of the table and the CSV file.
type Row struct {
	Metric string
	Value  float64
	Unit   string
	Target string
	// Met is "yes", "no", or "" for figures without a target.
	Met string
}

func met(ok bool) string {
	if ok {
		return "yes"
	}
	return "no"
}

func msf(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// Rows flattens the results into table lines.
func (r *Results) Rows() []Row {
	encrypted := 0.0
	if r.Encrypted {
		encrypted = 1
	}
	rows := []Row{{Metric: "run.encrypted", Value: encrypted, Unit: "bool"}}
	for _, c := range r.Comparisons {
		for _, p := range []struct {
			name string
			s    Sample
		}{{"bridge", c.Bridge}, {"baseline_matrix", c.Matrix}, {"baseline_" + c.RemoteKey, c.Remote}} {
			rows = append(rows,
				Row{Metric: c.Key + "." + p.name + ".throughput", Value: p.s.Throughput(), Unit: "msg/s"},
				Row{Metric: c.Key + "." + p.name + ".p50", Value: msf(p.s.P50()), Unit: "ms"},
				Row{Metric: c.Key + "." + p.name + ".p99", Value: msf(p.s.P99()), Unit: "ms"},
			)
		}
		if len(c.AppService.Latencies) > 0 {
			rows = append(rows,
				Row{Metric: c.Key + ".appservice.throughput", Value: c.AppService.Throughput(), Unit: "msg/s"},
				Row{Metric: c.Key + ".appservice.p50", Value: msf(c.AppService.P50()), Unit: "ms"},
				Row{Metric: c.Key + ".appservice.p99", Value: msf(c.AppService.P99()), Unit: "ms"},
				Row{Metric: c.Key + ".ratio_vs_appservice", Value: c.AppServiceRatio(), Unit: "bridge/appservice"},
				Row{Metric: c.Key + ".added_over_appservice_p50", Value: msf(c.AddedOverAppServiceP50()), Unit: "ms"},
			)
		}
		ratio := c.ThroughputRatio()
		rows = append(rows,
			Row{Metric: c.Key + ".throughput_ratio", Value: ratio, Unit: "bridge/baseline",
				Target: fmt.Sprintf(">= %.1f", TargetThroughputRatio), Met: met(ratio >= TargetThroughputRatio)},
			Row{Metric: c.Key + ".added_p50", Value: msf(c.AddedP50()), Unit: "ms"},
			Row{Metric: c.Key + ".added_p99", Value: msf(c.AddedP99()), Unit: "ms",
				Target: "< " + strconv.Itoa(int(TargetAddedP99/time.Millisecond)), Met: met(c.AddedP99() < TargetAddedP99)},
		)
	}
	rows = append(rows,
		Row{Metric: "bridge.cpu_per_message", Value: msf(r.BridgeCPUPerMessage), Unit: "ms"},
		Row{Metric: "bridge.db_connections_per_message", Value: r.DBSessionsPerMessage, Unit: "connections"},
		Row{Metric: "bridge.rss_after_messages", Value: float64(r.RSSAfterMessagesKB) / 1024, Unit: "MiB"},
		Row{Metric: fmt.Sprintf("startup.%dp_%dg", r.PortalsSmall, r.GhostsSmall), Value: msf(r.StartupSmall), Unit: "ms"},
		Row{Metric: fmt.Sprintf("startup.%dp_%dg", r.Portals, r.Ghosts), Value: msf(r.StartupSeeded), Unit: "ms",
			Target: "< " + strconv.Itoa(int(TargetStartup/time.Millisecond)), Met: met(r.StartupSeeded < TargetStartup)},
		Row{Metric: "rss.at_connected", Value: float64(r.RSSAtConnectedKB) / 1024, Unit: "MiB"},
		Row{Metric: "rss.steady", Value: float64(r.RSSSeededKB) / 1024, Unit: "MiB",
			Target: "< 200", Met: met(r.RSSSeededKB < TargetRSSKB)},
		Row{Metric: "rss.peak_vmhwm", Value: float64(r.HWMSeededKB) / 1024, Unit: "MiB",
			Target: "< 200", Met: met(r.HWMSeededKB < TargetRSSKB)},
	)
	return rows
}

// WriteTable prints the comparison tables and the target summary.
func (r *Results) WriteTable(w io.Writer) error {
	fmt.Fprintf(w, "Passerelle benchmark, %s, N=%d messages per path and phase\n", r.Started.Format(time.RFC3339), r.N)
	fmt.Fprintf(w, "Machine: %s, %d cores, %s RAM, load %s at start, %s at end\n", r.Machine.CPU, r.Machine.Cores, r.Machine.MemTotal, r.Machine.LoadBefore, r.LoadAfter)
	if r.Encrypted {
		fmt.Fprintln(w, "End-to-bridge encryption ON: portals and the Matrix baseline's room encrypted, Matrix clients decrypt (no appservice leg)")
	} else {
		fmt.Fprintln(w, "End-to-bridge encryption off: unencrypted rooms (-encrypted measures encrypted ones)")
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, c := range r.Comparisons {
		fmt.Fprintf(tw, "%s\tthroughput msg/s\tp50 ms\tp99 ms\t\n", c.Direction)
		for _, p := range []struct {
			name string
			s    Sample
		}{{"bridge", c.Bridge}, {"baseline: Matrix client ⇄ Dendrite", c.Matrix}, {"baseline: " + c.RemoteLabel, c.Remote}} {
			fmt.Fprintf(tw, "  %s\t%.1f\t%s\t%s\t\n", p.name, p.s.Throughput(), ms(p.s.P50()), ms(p.s.P99()))
		}
		fmt.Fprintf(tw, "  ratio bridge/slower baseline\t%.2f\t\t\t\n", c.ThroughputRatio())
		fmt.Fprintf(tw, "  added by the bridge (bridge − both legs)\t\t%s\t%s\t\n", ms(c.AddedP50()), ms(c.AddedP99()))
		if len(c.AppService.Latencies) > 0 {
			fmt.Fprintf(tw, "  diagnostic: the ghost → Dendrite with the appservice token, no bridge\t%.1f\t%s\t%s\t\n", c.AppService.Throughput(), ms(c.AppService.P50()), ms(c.AppService.P99()))
			fmt.Fprintf(tw, "  bridge/appservice ratio; bridge's own p50 (bridge − appservice − remote)\t%.2f\t%s\t\t\n", c.AppServiceRatio(), ms(c.AddedOverAppServiceP50()))
		}
		fmt.Fprintf(tw, "\t\t\t\t\n")
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tvalue\tunit\ttarget\tmet")
	for _, row := range r.Rows() {
		if row.Target == "" && row.Metric[:3] != "bri" && row.Metric[:3] != "sta" && row.Metric[:3] != "rss" {
			continue
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%s\t%s\t%s\n", row.Metric, row.Value, row.Unit, row.Target, row.Met)
	}
	return tw.Flush()
}

// WriteCSV writes every row (with the run's time, N and machine load) to path, creating its
// directory.
func (r *Results) WriteCSV(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	w := csv.NewWriter(f)
	_ = w.Write([]string{"time", "n", "load_before", "load_after", "metric", "value", "unit", "target", "met"})
	for _, row := range r.Rows() {
		_ = w.Write([]string{r.Started.Format(time.RFC3339), strconv.Itoa(r.N), r.Machine.LoadBefore, r.LoadAfter,
			row.Metric, strconv.FormatFloat(row.Value, 'f', 3, 64), row.Unit, row.Target, row.Met})
	}
	w.Flush()
	if err = w.Error(); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
