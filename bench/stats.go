package bench

import (
	"fmt"
	"slices"
	"time"
)

// Sample is what one path (bridge or baseline, one direction) measured: per-message latencies
// from the sequential phase and the wall time of the burst phase.
type Sample struct {
	// Latencies are send-to-arrival times of messages sent one at a time (each waits for the
	// previous to arrive), so they hold no queueing.
	Latencies []time.Duration
	// BurstN messages were sent back to back; BurstWall is from the first send to the last arrival.
	BurstN    int
	BurstWall time.Duration
}

// add merges another round's sample into s: latencies join, bursts add up.
func (s *Sample) add(o Sample) {
	s.Latencies = append(s.Latencies, o.Latencies...)
	s.BurstN += o.BurstN
	s.BurstWall += o.BurstWall
}

// Throughput is messages per second of the burst phase; 0 when nothing was measured.
func (s Sample) Throughput() float64 {
	if s.BurstN == 0 || s.BurstWall <= 0 {
		return 0
	}
	return float64(s.BurstN) / s.BurstWall.Seconds()
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of ds; 0 for no data.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := int(float64(len(sorted))*p/100+0.999999999) - 1
	rank = max(0, min(rank, len(sorted)-1))
	return sorted[rank]
}

// P50 and P99 of the sequential latencies.
func (s Sample) P50() time.Duration { return Percentile(s.Latencies, 50) }
func (s Sample) P99() time.Duration { return Percentile(s.Latencies, 99) }

// Comparison puts one direction's bridge path beside the baselines of its two legs (the Matrix
// leg and the remote network's leg), measured in the same run.
type Comparison struct {
	// Key prefixes the comparison's CSV metrics (r2m, m2r, wa_r2m, …).
	Key string
	// Direction labels the table ("Telegram → Matrix", …), with any setting the row ran under.
	Direction string
	// RemoteKey names the remote leg in CSV metrics ("telegram" → baseline_telegram), and
	// RemoteLabel in the table ("gotd ⇄ test server").
	RemoteKey, RemoteLabel string
	Bridge                 Sample
	Matrix                 Sample
	Remote                 Sample
	// AppService, on remote → Matrix paths, is a diagnostic leg without a target: the same
	// ghost sending the same text into the same portal straight to the homeserver with the
	// appservice token (what the bridge's own homeserver request costs, with the homeserver's
	// appservice work: masquerading, the echo transaction to the running bridge), so the
	// bridge's own share can be told apart from the homeserver's. Empty when not measured.
	AppService Sample
}

// AppServiceRatio is bridge throughput over the appservice leg's, 0 when that was not measured.
func (c Comparison) AppServiceRatio() float64 {
	a := c.AppService.Throughput()
	if a == 0 {
		return 0
	}
	return c.Bridge.Throughput() / a
}

// AddedOverAppServiceP50 is the bridge path's p50 minus the appservice leg's and the remote
// leg's: the bridge's own share of a message's time.
func (c Comparison) AddedOverAppServiceP50() time.Duration {
	return c.Bridge.P50() - c.AppService.P50() - c.Remote.P50()
}

// BaselineThroughput is the slower leg's throughput: a pipeline of the two legs can go no faster.
func (c Comparison) BaselineThroughput() float64 {
	m, t := c.Matrix.Throughput(), c.Remote.Throughput()
	if m == 0 || t == 0 {
		return max(m, t)
	}
	return min(m, t)
}

// ThroughputRatio is bridge throughput over BaselineThroughput.
func (c Comparison) ThroughputRatio() float64 {
	b := c.BaselineThroughput()
	if b == 0 {
		return 0
	}
	return c.Bridge.Throughput() / b
}

// AddedP50 and AddedP99 are what the bridge adds to the two legs: the bridge path's percentile
// minus the sum of the legs' percentiles. Percentiles do not add exactly; this is the usual
// approximation and is labelled so in the report.
func (c Comparison) AddedP50() time.Duration {
	return c.Bridge.P50() - c.Matrix.P50() - c.Remote.P50()
}
func (c Comparison) AddedP99() time.Duration {
	return c.Bridge.P99() - c.Matrix.P99() - c.Remote.P99()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
