// Command tgtestserver runs the project's Telegram test server as its own
// process, for the demo and for trying a bridge binary by hand.
//
//	tgtestserver -addr 127.0.0.1:11443 -key dc.pem \
//	    -user '+33600000001=Alice' -user '+33600000002=Bob' -echo '+33600000002' \
//	    -config-out telegram-server.yaml -admin 127.0.0.1:11444
//
// It prints every login code it "sends" and writes the server section a
// bridge config needs (DC, address, PEM public key).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// listFlag collects a repeated string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "tgtestserver:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		addr      = flag.String("addr", "127.0.0.1:11443", "TCP address to listen on")
		dc        = flag.Int("dc", 2, "data-center ID to claim")
		keyFile   = flag.String("key", "", "RSA private key file (PEM); created when missing, so the public key survives restarts")
		configOut = flag.String("config-out", "", "write the bridge's telegram server config section (YAML) to this file")
		verbose   = flag.Bool("v", false, "debug logging")
		adminAddr = flag.String("admin", "", "loopback HTTP address for the demo's admin API (GET /code, POST /qr, POST /send); off when empty")
		users     listFlag
		echoes    listFlag
	)
	flag.Var(&users, "user", "account to create, as PHONE=First Last[@username][:password] (repeatable)")
	flag.Var(&echoes, "echo", "phone of an account that reads and echoes every message it gets (repeatable)")
	flag.Parse()

	level := zerolog.InfoLevel
	if *verbose {
		level = zerolog.DebugLevel
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(level).With().Timestamp().Logger()

	srv, err := tgtestserver.New(tgtestserver.Options{
		Addr:    *addr,
		DC:      *dc,
		KeyFile: *keyFile,
		Logger:  log,
		OnCode: func(phone, code string) {
			fmt.Printf("login code for +%s: %s\n", phone, code)
		},
	})
	if err != nil {
		return err
	}
	for _, u := range users {
		spec, err := parseUser(u)
		if err != nil {
			return err
		}
		a, err := srv.CreateUser(spec)
		if err != nil {
			return fmt.Errorf("-user %q: %w", u, err)
		}
		fmt.Printf("account %s %s: user ID %d\n", spec.Phone, spec.FirstName, a.ID())
	}
	for _, phone := range echoes {
		a, ok := srv.ActorByPhone(phone)
		if !ok {
			return fmt.Errorf("-echo %q: no -user with that phone", phone)
		}
		srv.SetResponder(a.ID(), tgtestserver.EchoResponder(""))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := srv.Start(ctx); err != nil {
		return err
	}
	defer srv.Close()
	if *configOut != "" {
		if err := os.WriteFile(*configOut, []byte(configYAML(srv)), 0o644); err != nil {
			return fmt.Errorf("write %s: %w", *configOut, err)
		}
	}
	if *adminAddr != "" {
		l, err := net.Listen("tcp", *adminAddr)
		if err != nil {
			return fmt.Errorf("-admin %s: %w", *adminAddr, err)
		}
		hs := &http.Server{Handler: adminHandler(srv), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = hs.Serve(l) }()
		defer hs.Close()
		fmt.Printf("admin API on http://%s\n", l.Addr())
	}
	fmt.Printf("tgtestserver ready on %s (DC %d)\n", srv.Addr(), srv.DC())
	<-ctx.Done()
	return nil
}

// parseUser reads PHONE=First Last[@username][:password].
func parseUser(v string) (tgtestserver.UserSpec, error) {
	phone, rest, ok := strings.Cut(v, "=")
	if !ok || phone == "" || rest == "" {
		return tgtestserver.UserSpec{}, errors.New("-user " + v + ": want PHONE=First Last[@username][:password]")
	}
	spec := tgtestserver.UserSpec{Phone: phone}
	if name, pw, ok := strings.Cut(rest, ":"); ok {
		rest, spec.Password = name, pw
	}
	if name, uname, ok := strings.Cut(rest, "@"); ok {
		rest, spec.Username = name, uname
	}
	first, last, _ := strings.Cut(strings.TrimSpace(rest), " ")
	spec.FirstName, spec.LastName = first, last
	return spec, nil
}

// configYAML is the server section of a bridge's telegram config.
func configYAML(srv *tgtestserver.Server) string {
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n  dc: %d\n  dc_options:\n    - id: %d\n      address: %q\n  public_keys:\n", srv.DC(), srv.DC(), srv.Addr())
	for _, k := range srv.PublicKeysPEM() {
		b.WriteString("    - |\n")
		for _, line := range strings.Split(strings.TrimRight(k, "\n"), "\n") {
			b.WriteString("      " + line + "\n")
		}
	}
	return b.String()
}
