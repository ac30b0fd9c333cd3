package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"time"
)

// PprofEnv names the environment variable that turns Go's profiler on: an address such as
// 127.0.0.1:6060 on which /debug/pprof/ (CPU and heap profiles, goroutines, execution traces)
// is served. It is for diagnosing a slow or stuck bridge with `go tool pprof` or `go tool
// trace`; the profiles show internals (goroutine stacks, allocation sites), so bind it to
// loopback. Off unless set.
const PprofEnv = "PASSERELLE_PPROF_LISTEN"

// startPprof serves the profiler when PprofEnv is set and returns the address it listens on
// ("" when off); a bad address is a start-up error.
func startPprof() (string, error) {
	addr := os.Getenv(PprofEnv)
	if addr == "" {
		return "", nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("%s=%q: %w (give a free host:port, e.g. 127.0.0.1:6060, or unset it)", PprofEnv, addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	fmt.Fprintf(os.Stderr, "Go profiler on http://%s/debug/pprof/ (%s)\n", ln.Addr(), PprofEnv)
	return ln.Addr().String(), nil
}
