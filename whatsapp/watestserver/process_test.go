package watestserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver/memstore"
)

// helperEnv makes the test binary run as a separate WhatsApp client process (see TestMain).
const helperEnv = "WATESTSERVER_HELPER_CLIENT"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		if err := runHelperClient(); err != nil {
			fmt.Println("ERROR", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runHelperClient is another process configured only the way a bridge is: a proxy URL, the root
// key in base64 and a CA file. It prints the QR code, waits for login, answers one message and
// exits.
func runHelperClient() error {
	rootKey, err := base64.StdEncoding.DecodeString(os.Getenv("WA_ROOT_PUBLIC_KEY"))
	if err != nil || len(rootKey) != 32 {
		return fmt.Errorf("WA_ROOT_PUBLIC_KEY must be base64 of 32 bytes: %v", err)
	}
	whatsmeow.WACertPubKey = [32]byte(rootKey)
	caPEM, err := os.ReadFile(os.Getenv("WA_CA_FILE"))
	if err != nil {
		return err
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("no certificate in %s", os.Getenv("WA_CA_FILE"))
	}
	proxyURL, err := url.Parse(os.Getenv("WA_PROXY"))
	if err != nil {
		return err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = http.ProxyURL(proxyURL)
	transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}

	dev, _ := memstore.NewDevice()
	dev.PushName = "Helper"
	cli := whatsmeow.NewClient(dev, waLog.Noop)
	if err = cli.SetProxyAddress(proxyURL.String()); err != nil {
		return err
	}
	cli.SetWebsocketHTTPClient(&http.Client{Transport: transport})
	cli.SetPreLoginHTTPClient(&http.Client{Transport: transport})
	cli.SetMediaHTTPClient(&http.Client{Transport: transport})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	done := make(chan error, 1)
	cli.AddEventHandler(func(evt any) {
		switch e := evt.(type) {
		case *events.Connected:
			fmt.Println("CONNECTED", cli.Store.GetJID())
		case *events.Message:
			text := textOf(e.Message)
			if text == "" {
				return
			}
			fmt.Println("MSG", text)
			_, err := cli.SendMessage(ctx, e.Info.Chat, whatsmeowText("pong: "+text))
			done <- err
		}
	})
	qr, err := cli.GetQRChannel(ctx)
	if err != nil {
		return err
	}
	if err = cli.Connect(); err != nil {
		return err
	}
	defer cli.Disconnect()
	fmt.Println("QR", (<-qr).Code)
	select {
	case err = <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// TestSeparateProcessClient: a client in another process, given only the proxy URL, the root key
// in base64 and the CA file, pairs and exchanges messages, as the bridge binary will.
func TestSeparateProcessClient(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := srv.WriteCAFile(caFile); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(),
		helperEnv+"=1",
		"WA_PROXY="+srv.ProxyURL(),
		"WA_ROOT_PUBLIC_KEY="+srv.RootPublicKeyBase64(),
		"WA_CA_FILE="+caFile,
		// Nothing else is reachable: a proxy from the environment must not be used.
		"HTTPS_PROXY=", "https_proxy=",
	)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err = cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 16)
	go func() {
		scanner := bufio.NewScanner(stdout)
		for scanner.Scan() {
			lines <- scanner.Text()
		}
		close(lines)
	}()
	next := func(prefix string) string {
		t.Helper()
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					t.Fatalf("helper exited while waiting for %s", prefix)
				}
				if strings.HasPrefix(line, "ERROR") {
					t.Fatalf("helper: %s", line)
				}
				if strings.HasPrefix(line, prefix+" ") {
					return strings.TrimPrefix(line, prefix+" ")
				}
			case <-ctx.Done():
				t.Fatalf("waiting for %s from the helper: %v", prefix, ctx.Err())
			}
		}
	}
	qr := next("QR")
	jid, err := srv.ScanQR(ctx, "33699900001", qr)
	if err != nil {
		t.Fatal(err)
	}
	if got := next("CONNECTED"); got != jid.String() {
		t.Fatalf("helper connected as %s, paired %s", got, jid)
	}
	friend, err := srv.NewPhone(ctx, "33699900002", PhoneOptions{PushName: "Friend"})
	if err != nil {
		t.Fatal(err)
	}
	defer friend.Close()
	if _, err = friend.SendText(ctx, jid.ToNonAD(), "ping"); err != nil {
		t.Fatal(err)
	}
	if got := next("MSG"); got != "ping" {
		t.Fatalf("helper got %q", got)
	}
	if _, _, err = WaitFor(ctx, friend.Events, 0, func(m *events.Message) bool { return textOf(m.Message) == "pong: ping" }); err != nil {
		t.Fatal(err)
	}
}
