package importer

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/passerelle-bridge/passerelle/portal"
)

// BenchmarkImport imports a Telegram export of IMPORT_BENCH_MESSAGES (default 100,000) text
// messages from 50 senders into one room of a real Dendrite through the bridge, and reports
// messages per second. It is bounded by the homeserver: each message is one ordered send.
//
//	IMPORT_BENCH_MESSAGES=100000 go test -tags goolm ./importer -run '^$' -bench Import -benchtime 1x -timeout 2h
func BenchmarkImport(b *testing.B) {
	n := 100_000
	if s := os.Getenv("IMPORT_BENCH_MESSAGES"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			b.Fatalf("IMPORT_BENCH_MESSAGES=%q: want a positive number", s)
		}
	}
	engine := os.Getenv("IMPORT_BENCH_DB")
	if engine == "" {
		engine = "postgres"
	}
	h := newHarness(b, engine)
	msgs := make([]map[string]any, n)
	for i := range msgs {
		sender := int64(1000 + i%50)
		msgs[i] = tgMsg(i+1, 1500000000+int64(i), sender, fmt.Sprint("Sender ", sender), fmt.Sprint("Message number ", i+1), nil)
	}
	dir := writeTG(b, "Benchmark", "private_supergroup", 99999, msgs, nil)
	b.ResetTimer()
	var total time.Duration
	for i := 0; i < b.N; i++ {
		_, u := h.newUser("bench")
		start := time.Now()
		var lastLog time.Time
		progress := func(p Progress) {
			if time.Since(lastLog) > time.Minute {
				lastLog = time.Now()
				b.Logf("%d/%d messages, %.1f msgs/s so far", p.Done, p.Total, float64(p.Done)*1000/float64(max(p.ElapsedMS, 1)))
			}
		}
		sum, err := h.im.Run(context.Background(), &Request{User: u, Network: portal.Telegram, Path: dir, FileName: "result.json", Progress: progress})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if sum.Imported != n || sum.Failed != 0 {
			b.Fatalf("imported %d of %d, %d failed: %+v", sum.Imported, n, sum.Failed, sum.Failures)
		}
	}
	b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
}
