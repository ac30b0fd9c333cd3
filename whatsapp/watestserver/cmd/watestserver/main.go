// Command watestserver runs the WhatsApp test server on loopback for demos and manual testing.
//
// It prints one JSON line with what a bridge needs (network.whatsapp.proxy,
// server.root_public_key, server.ca_file) and the control API address, then serves until
// interrupted. The server's state (keys, CA, accounts, devices, groups, queues, media) is kept in
// state.json in the state directory, so a restart keeps paired bridges logged in; the control
// API's phones are in memory and must be created again.
//
//	watestserver -state-dir /tmp/wa -control 127.0.0.1:8799
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

func main() {
	stateDir := flag.String("state-dir", "", "directory to write ca.pem and server.json to (required)")
	controlAddr := flag.String("control", "127.0.0.1:0", "loopback address of the JSON control API")
	verbose := flag.Bool("v", false, "log every node")
	flag.Parse()
	if err := run(*stateDir, *controlAddr, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "watestserver:", err)
		os.Exit(1)
	}
}

func run(stateDir, controlAddr string, verbose bool) error {
	if stateDir == "" {
		return errors.New("-state-dir is required: the CA certificate and server.json are written there")
	}
	host, _, err := net.SplitHostPort(controlAddr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		return fmt.Errorf("-control %q must be a loopback host:port such as 127.0.0.1:8799", controlAddr)
	}
	if err = os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("create state dir: %w", err)
	}
	level := zerolog.InfoLevel
	if verbose {
		level = zerolog.TraceLevel
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).Level(level).With().Timestamp().Logger()
	srv, err := watestserver.Start(watestserver.Options{Log: &log, StateFile: filepath.Join(stateDir, "state.json")})
	if err != nil {
		return err
	}
	defer srv.Close()
	restore := srv.TrustRoot() // for the control API's own phones
	defer restore()
	caFile := filepath.Join(stateDir, "ca.pem")
	if err = srv.WriteCAFile(caFile); err != nil {
		return err
	}
	listener, err := net.Listen("tcp", controlAddr)
	if err != nil {
		return fmt.Errorf("listen for the control API: %w", err)
	}
	ctl := watestserver.NewControl(srv)
	defer ctl.Close()
	httpSrv := &http.Server{Handler: ctl, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = httpSrv.Serve(listener) }()
	defer httpSrv.Close()

	info := map[string]string{
		"proxy":           srv.ProxyURL(),
		"root_public_key": srv.RootPublicKeyBase64(),
		"ca_file":         caFile,
		"control":         "http://" + listener.Addr().String(),
	}
	data, _ := json.Marshal(info)
	if err = os.WriteFile(filepath.Join(stateDir, "server.json"), append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("write server.json: %w", err)
	}
	fmt.Println(string(data))

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, os.Interrupt, syscall.SIGTERM)
	<-stop
	return nil
}
