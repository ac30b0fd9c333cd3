// Command passerelle-demo runs Passerelle with no account anywhere: a Dendrite homeserver, the
// bridge and the project's Telegram and WhatsApp test servers with simulated people who answer.
// Its terminal plays the user's phone for WhatsApp linking. `make demo` runs it.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/internal/demo"
)

func main() {
	dir := flag.String("dir", "demo-data", "directory that keeps the homeserver, bridge config and database between runs")
	hsAddr := flag.String("homeserver", "127.0.0.1:8008", "address the homeserver listens on")
	tgAddr := flag.String("telegram", "127.0.0.1:11443", "address the Telegram test server listens on")
	verbose := flag.Bool("v", false, "log the test servers to stderr")
	flag.Parse()

	log := zerolog.Nop()
	if *verbose {
		log = zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: time.TimeOnly}).With().Timestamp().Logger()
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	fmt.Println("Starting the demo: the first run builds Dendrite (about a minute) and the bridge…")
	startCtx, startCancel := context.WithTimeout(ctx, 10*time.Minute)
	d, err := demo.Start(startCtx, demo.Options{Dir: *dir, HomeserverAddr: *hsAddr, TelegramAddr: *tgAddr, Log: log})
	startCancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "passerelle-demo:", err)
		os.Exit(1)
	}
	fmt.Print(d.Instructions())
	fmt.Println("\nphone> (paste a WhatsApp QR text or pairing code here)")

	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case line := <-lines:
			msg, err := d.PhoneInput(ctx, line)
			if err != nil {
				fmt.Println("phone>", err)
			} else if msg != "" {
				fmt.Println("phone>", msg)
			}
		}
	}
	fmt.Println("\nStopping…")
	if err = d.Close(); err != nil {
		fmt.Fprintln(os.Stderr, "passerelle-demo: stop:", err)
		os.Exit(1)
	}
}
