package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"
)

// arrivals records when numbered messages ("<prefix><i>") reach their destination. Every
// receiver (the Matrix sync loop, the gotd update handler, the test server's responder) reports
// each text it sees to the one board; only texts of the phase running now are kept.
type arrivals struct {
	mu     sync.Mutex
	source string
	prefix string
	at     map[int]time.Time
	notify chan struct{}
}

func newArrivals() *arrivals { return &arrivals{notify: make(chan struct{}, 1)} }

// expect starts a phase: texts with prefix reported by source are recorded from now on,
// everything else is ignored (a Matrix sender's own sync also shows its messages).
func (a *arrivals) expect(source, prefix string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.source, a.prefix = source, prefix
	a.at = map[int]time.Time{}
}

// seen is called by receivers (named by source) with the time they got text.
func (a *arrivals) seen(source, text string, now time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.prefix == "" || source != a.source || !strings.HasPrefix(text, a.prefix) {
		return
	}
	i, err := strconv.Atoi(strings.TrimPrefix(text, a.prefix))
	if err != nil {
		return
	}
	if _, dup := a.at[i]; !dup {
		a.at[i] = now
	}
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// wait returns the arrival times of messages 0..n-1 once all have arrived.
func (a *arrivals) wait(ctx context.Context, n int, timeout time.Duration) ([]time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		got, prefix := len(a.at), a.prefix
		var out []time.Time
		if got >= n {
			out = make([]time.Time, n)
			for i := range out {
				t, ok := a.at[i]
				if !ok {
					out = nil
					break
				}
				out[i] = t
			}
		}
		a.mu.Unlock()
		if out != nil {
			return out, nil
		}
		select {
		case <-a.notify:
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-deadline.C:
			return nil, fmt.Errorf("only %d of %d messages %q… arrived within %s", got, n, prefix, timeout)
		}
	}
}

// one waits for message i alone and returns its arrival time.
func (a *arrivals) one(ctx context.Context, i int, timeout time.Duration) (time.Time, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		t, ok := a.at[i]
		prefix := a.prefix
		a.mu.Unlock()
		if ok {
			return t, nil
		}
		select {
		case <-a.notify:
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		case <-deadline.C:
			return time.Time{}, fmt.Errorf("message %q%d did not arrive within %s", prefix, i, timeout)
		}
	}
}

// measure runs one path: n messages one at a time (latency), then n back to back (throughput).
// send(text) sends one message and returns once the sender's call returns.
func measure(ctx context.Context, arr *arrivals, name, source string, n int, send func(ctx context.Context, text string) error) (Sample, error) {
	var s Sample
	const perMessage = 30 * time.Second
	prefix := fmt.Sprintf("bench %s seq ", name)
	arr.expect(source, prefix)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := send(ctx, prefix+strconv.Itoa(i)); err != nil {
			return s, fmt.Errorf("%s: send message %d: %w", name, i, err)
		}
		at, err := arr.one(ctx, i, perMessage)
		if err != nil {
			return s, fmt.Errorf("%s: %w", name, err)
		}
		s.Latencies = append(s.Latencies, at.Sub(t0))
	}
	prefix = fmt.Sprintf("bench %s burst ", name)
	arr.expect(source, prefix)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		if err := send(ctx, prefix+strconv.Itoa(i)); err != nil {
			return s, fmt.Errorf("%s: send burst message %d: %w", name, i, err)
		}
	}
	times, err := arr.wait(ctx, n, perMessage+time.Duration(n)*200*time.Millisecond)
	if err != nil {
		return s, fmt.Errorf("%s burst: %w", name, err)
	}
	last := times[0]
	for _, t := range times {
		if t.After(last) {
			last = t
		}
	}
	s.BurstN, s.BurstWall = n, last.Sub(t0)
	arr.expect("", "")
	return s, nil
}
