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
// leg and the Telegram leg), measured in the same run.
type Comparison struct {
	Direction string
	Bridge    Sample
	Matrix    Sample
	Telegram  Sample
}

// BaselineThroughput is the slower leg's throughput: a pipeline of the two legs can go no faster.
func (c Comparison) BaselineThroughput() float64 {
	m, t := c.Matrix.Throughput(), c.Telegram.Throughput()
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
	return c.Bridge.P50() - c.Matrix.P50() - c.Telegram.P50()
}
func (c Comparison) AddedP99() time.Duration {
	return c.Bridge.P99() - c.Matrix.P99() - c.Telegram.P99()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/float64(time.Millisecond)) }
