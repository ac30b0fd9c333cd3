// Command passerelle-bench runs the bridge benchmark (package bench): Dendrite, PostgreSQL, the
// Telegram test server and the real bridge binary on loopback, each path beside its baselines.
// It prints a table and writes a CSV file; docs/performance.md explains the figures.
//
//	go run -tags goolm ./cmd/passerelle-bench            # what `make bench` runs
//	go run -tags goolm ./cmd/passerelle-bench -short     # a quick check that it all works
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/passerelle-bridge/passerelle/bench"
)

func main() {
	n := flag.Int("n", 300, "messages per path and phase (sent one at a time, then back to back)")
	short := flag.Bool("short", false, "quick run: 20 messages, 500 portals and 2,500 ghosts (overrides -n, -portals, -ghosts)")
	portals := flag.Int("portals", 10000, "portals seeded for the start-up and memory measurement")
	ghosts := flag.Int("ghosts", 50000, "ghosts seeded for the start-up and memory measurement")
	csvPath := flag.String("csv", "bench/results/latest.csv", "where the CSV results go")
	binary := flag.String("binary", "", "a built passerelle binary (default: build ./cmd/passerelle)")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	flag.Parse()

	opts := bench.Options{N: *n, Seed: bench.Seed{Portals: *portals, Ghosts: *ghosts}, Binary: *binary, Progress: os.Stderr}
	if *short {
		opts.N, opts.Seed = 20, bench.Seed{Portals: 500, Ghosts: 2500}
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelTimeout := context.WithTimeout(ctx, *timeout)
	defer cancelTimeout()
	res, err := bench.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "passerelle-bench:", err)
		os.Exit(1)
	}
	if err = res.WriteTable(os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "passerelle-bench:", err)
		os.Exit(1)
	}
	if err = res.WriteCSV(*csvPath); err != nil {
		fmt.Fprintln(os.Stderr, "passerelle-bench:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "results written to", *csvPath)
}
