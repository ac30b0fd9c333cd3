package watestserver

import (
	"context"
	"errors"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"google.golang.org/protobuf/proto"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver/memstore"
)

// testLogger logs to stderr when WATESTSERVER_DEBUG is set, and nowhere otherwise.
func testLogger() zerolog.Logger {
	if os.Getenv("WATESTSERVER_DEBUG") != "" {
		return zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr}).Level(zerolog.TraceLevel).With().Timestamp().Logger()
	}
	return zerolog.Nop()
}

// startServer starts a server, trusts its root key for the test and stops it at the end. Tests
// using it must not be parallel: whatsmeow.WACertPubKey is process-wide.
func startServer(t *testing.T) *Server {
	t.Helper()
	log := testLogger().With().Str("component", "server").Logger()
	srv, err := Start(Options{Log: &log})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	restore := srv.TrustRoot()
	t.Cleanup(func() {
		srv.Close()
		restore()
	})
	return srv
}

type testClient struct {
	cli  *whatsmeow.Client
	dev  *store.Device
	mem  *memstore.Store
	log  *EventLog
	name string
}

// newTestClient makes an unpaired whatsmeow client pointed at srv, disconnected at test end.
func newTestClient(t *testing.T, srv *Server, name string) *testClient {
	t.Helper()
	dev, mem := memstore.NewDevice()
	return clientForDevice(t, srv, name, dev, mem)
}

func clientForDevice(t *testing.T, srv *Server, name string, dev *store.Device, mem *memstore.Store) *testClient {
	t.Helper()
	var wlog waLog.Logger = waLog.Noop
	if os.Getenv("WATESTSERVER_DEBUG") != "" {
		wlog = waLog.Zerolog(testLogger().With().Str("client", name).Logger())
	}
	cli := whatsmeow.NewClient(dev, wlog)
	srv.ConfigureClient(cli)
	tc := &testClient{cli: cli, dev: dev, mem: mem, log: NewEventLog(cli), name: name}
	t.Cleanup(cli.Disconnect)
	return tc
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

// waitUntil polls cond (every 10 ms, up to 20 s) for things that settle asynchronously, like acks.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func whatsmeowText(text string) *waE2E.Message {
	return &waE2E.Message{Conversation: proto.String(text)}
}

// waitQueuesDrain waits until every connected device has acknowledged everything sent to it: a
// stanza the server cannot match with its acknowledgement would stay queued forever.
func waitQueuesDrain(t *testing.T, srv *Server) {
	t.Helper()
	waitUntil(t, "every connected device's queue to drain", func() bool {
		srv.mu.Lock()
		defer srv.mu.Unlock()
		for _, acct := range srv.accounts {
			for _, dev := range acct.devices {
				if dev.conn != nil && len(dev.queue) > 0 {
					return false
				}
			}
		}
		return true
	})
}
