// Command passerelle-bench runs the bridge benchmark (package bench): Dendrite, PostgreSQL, the
// Telegram and WhatsApp test servers and the real bridge binary on loopback, each path beside
// its baselines.
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
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/passerelle-bridge/passerelle/bench"
)

func main() {
	n := flag.Int("n", 200, "messages per path and phase (sent one at a time, then back to back)")
	rounds := flag.Int("rounds", 4, "rounds the N messages of each path are split into, every path measured once per round, so bridge paths and their baselines alternate")
	short := flag.Bool("short", false, "quick run: 20 messages, 500 portals and 2,500 ghosts (overrides -n, -portals, -ghosts)")
	portals := flag.Int("portals", 10000, "portals seeded for the start-up and memory measurement")
	ghosts := flag.Int("ghosts", 50000, "ghosts seeded for the start-up and memory measurement")
	csvPath := flag.String("csv", "", "where the CSV results go (default bench/results/latest.csv, with -encrypted bench/results/encrypted.csv, with -short bench/results/short.csv)")
	encrypted := flag.Bool("encrypted", false, "end-to-bridge encryption on: encrypted portals and baseline room, Matrix clients that decrypt (as deployments have it by default)")
	binary := flag.String("binary", "", "a built passerelle binary (default: build ./cmd/passerelle)")
	bridgeLog := flag.String("bridge-log", "", "copy the bridge's log here at the end (add -set logging.min_level=debug for detail)")
	pgParams := flag.String("pg-params", "", "extra query parameters of the bridge's PostgreSQL URI, e.g. binary_parameters=yes")
	timeout := flag.Duration("timeout", 30*time.Minute, "give up after this long")
	sets := map[string]any{}
	flag.Func("set", "bridge config key=value (YAML value, dotted key), e.g. -set database.max_idle_conns=5; repeatable", func(s string) error {
		key, raw, ok := strings.Cut(s, "=")
		if !ok || key == "" {
			return fmt.Errorf("-set %q: want key=value, e.g. database.max_idle_conns=5", s)
		}
		var value any
		if err := yaml.Unmarshal([]byte(raw), &value); err != nil {
			return fmt.Errorf("-set %s: value %q is not YAML: %w", key, raw, err)
		}
		sets[key] = value
		return nil
	})
	flag.Parse()

	opts := bench.Options{N: *n, Rounds: *rounds, Seed: bench.Seed{Portals: *portals, Ghosts: *ghosts}, Binary: *binary, Progress: os.Stderr, Config: sets, BridgeLog: *bridgeLog, PostgresParams: *pgParams, Encrypted: *encrypted}
	if *csvPath == "" {
		*csvPath = "bench/results/latest.csv"
		if *encrypted {
			*csvPath = "bench/results/encrypted.csv"
		}
	}
	if *short {
		opts.N, opts.Seed = 20, bench.Seed{Portals: 500, Ghosts: 2500}
		if !flagSet("csv") {
			// A quick check must not replace the figures docs/performance.md quotes.
			*csvPath = "bench/results/short.csv"
		}
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

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
