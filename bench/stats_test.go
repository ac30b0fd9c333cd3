package bench

import (
	"fmt"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(vs ...int) []time.Duration {
		out := make([]time.Duration, len(vs))
		for i, v := range vs {
			out[i] = time.Duration(v) * time.Millisecond
		}
		return out
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd count, unsorted", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median of even count is the lower middle (nearest rank)", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(seq(100)...), 99, 99 * time.Millisecond},
		{"p99 of 20 is the maximum", ms(seq(20)...), 99, 20 * time.Millisecond},
		{"p100", ms(3, 9, 1), 100, 9 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Percentile(tc.in, tc.p); got != tc.want {
				t.Fatalf("Percentile(%v, %v) = %v, want %v", tc.in, tc.p, got, tc.want)
			}
		})
	}
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i + 1
	}
	return out
}

func TestComparison(t *testing.T) {
	sample := func(lat time.Duration, n int, wall time.Duration) Sample {
		return Sample{Latencies: []time.Duration{lat}, BurstN: n, BurstWall: wall}
	}
	for _, tc := range []struct {
		name      string
		c         Comparison
		ratio     float64
		added     time.Duration
		baselineT float64
	}{
		{
			name: "slower leg bounds the baseline",
			c: Comparison{
				Bridge: sample(30*time.Millisecond, 90, time.Second),
				Matrix: sample(20*time.Millisecond, 100, time.Second),
				Remote: sample(5*time.Millisecond, 1000, time.Second),
			},
			ratio: 0.9, added: 5 * time.Millisecond, baselineT: 100,
		},
		{
			name: "missing baseline leg uses the other",
			c: Comparison{
				Bridge: sample(10*time.Millisecond, 50, time.Second),
				Matrix: sample(4*time.Millisecond, 100, time.Second),
			},
			ratio: 0.5, added: 6 * time.Millisecond, baselineT: 100,
		},
		{
			name:  "nothing measured",
			c:     Comparison{},
			ratio: 0, added: 0, baselineT: 0,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.c.BaselineThroughput(); got != tc.baselineT {
				t.Errorf("BaselineThroughput = %v, want %v", got, tc.baselineT)
			}
			if got := tc.c.ThroughputRatio(); got < tc.ratio-1e-9 || got > tc.ratio+1e-9 {
				t.Errorf("ThroughputRatio = %v, want %v", got, tc.ratio)
			}
			if got := tc.c.AddedP50(); got != tc.added {
				t.Errorf("AddedP50 = %v, want %v", got, tc.added)
			}
		})
	}
}

func TestRoundShares(t *testing.T) {
	cases := []struct {
		n, rounds int
		want      []int
	}{
		{200, 4, []int{50, 50, 50, 50}},
		{200, 0, []int{50, 50, 50, 50}},
		{22, 4, []int{6, 6, 5, 5}},
		{5, 4, []int{2, 1, 1, 1}},
		{3, 4, []int{1, 1, 1}},
		{7, 1, []int{7}},
	}
	for _, tc := range cases {
		got := roundShares(tc.n, tc.rounds)
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("roundShares(%d, %d) = %v, want %v", tc.n, tc.rounds, got, tc.want)
		}
	}
}

// TestSampleAdd: rounds merge into one sample whose throughput is all burst messages over all
// burst time, and whose percentiles cover every round's latencies.
func TestSampleAdd(t *testing.T) {
	var s Sample
	s.add(Sample{Latencies: []time.Duration{time.Millisecond}, BurstN: 10, BurstWall: time.Second})
	s.add(Sample{Latencies: []time.Duration{3 * time.Millisecond}, BurstN: 30, BurstWall: time.Second})
	if got := s.Throughput(); got != 20 {
		t.Errorf("throughput %v, want 20 msg/s", got)
	}
	if len(s.Latencies) != 2 || s.P99() != 3*time.Millisecond {
		t.Errorf("latencies %v, p99 %v", s.Latencies, s.P99())
	}
}
