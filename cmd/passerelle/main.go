// Command passerelle runs the Passerelle bridge: WhatsApp and Telegram in one appservice.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"maunium.net/go/mautrix/bridgev2/bridgeconfig"
	"maunium.net/go/mautrix/bridgev2/matrix/mxmain"

	"github.com/passerelle-bridge/passerelle/bridge"
	"github.com/passerelle-bridge/passerelle/delivery"
	"github.com/passerelle-bridge/passerelle/importer"
	"github.com/passerelle-bridge/passerelle/internal/pushmute"
	"github.com/passerelle-bridge/passerelle/internal/statecache"
)

// Set by the build (-ldflags "-X main.Tag=... -X main.Commit=... -X main.BuildTime=...").
var (
	Tag       = "unknown"
	Commit    = "unknown"
	BuildTime = "unknown"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "import" {
		os.Exit(runImport(os.Args[2:], os.Stdout, os.Stderr))
	}
	if len(os.Args) > 1 && os.Args[1] == "rotate-secrets" {
		os.Exit(runRotateSecrets(os.Args[2:], os.Stdout, os.Stderr))
	}
	conn := bridge.New()
	m := &mxmain.BridgeMain{
		Name:        "passerelle",
		URL:         "https://github.com/passerelle-bridge/passerelle",
		Description: "A Matrix bridge for WhatsApp and Telegram",
		Version:     "0.1.0",
		Connector:   conn,
	}
	m.InitVersion(Tag, Commit, BuildTime)

	if path, ok := exampleConfigRequest(os.Args[1:]); ok {
		os.Exit(writeExample(conn, path))
	}
	if _, err := startPprof(); err != nil {
		fmt.Fprintln(os.Stderr, "Configuration error:", err)
		os.Exit(11)
	}
	catchupInterval, catchupGrace, err := delivery.CatchupSettings()
	if err != nil {
		fmt.Fprintln(os.Stderr, "Configuration error:", err)
		os.Exit(11)
	}
	m.PreInit()
	if err := checkConfig(m.Config, m.ConfigPath); err != nil {
		fmt.Fprintln(os.Stderr, "Configuration error:", err)
		os.Exit(11)
	}
	m.Init()
	// Before any ghost's client exists: the joined check before every send is answered from
	// memory once known (internal/statecache).
	cache := statecache.Install(m.Matrix)
	// Nobody reads the bot's or a ghost's notifications; muting them spares the homeserver a
	// notification write per bridge user per message (internal/pushmute).
	muter := pushmute.Install(m.Matrix, cache)
	// After mxmain's Init (the Matrix connector exists), before the audit wraps the processor:
	// transactions are acknowledged only once handled, and retried on database outages.
	inbound := delivery.Install(m.Matrix, m.Bridge)
	importer.RegisterCommands(m.Bridge)
	conn.WrapCommands()
	m.Start()
	// Events the homeserver stored but never pushed are read from the rooms and bridged.
	go delivery.NewCatchup(inbound, m.Matrix.Bot.Client, catchupInterval, catchupGrace).Run(m.Bridge.BackgroundCtx)
	go muter.Run(m.Bridge.BackgroundCtx)
	code := m.WaitForInterrupt()
	m.Stop()
	os.Exit(code)
}

// exampleConfigRequest finds -e/--generate-example-config and the config path among the flags,
// because Passerelle writes its own example (mautrix's with secure defaults).
func exampleConfigRequest(args []string) (path string, ok bool) {
	path = "config.yaml"
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-e" || a == "--generate-example-config":
			ok = true
		case a == "-c" || a == "--config":
			if i+1 < len(args) {
				path = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "--config="):
			path = strings.TrimPrefix(a, "--config=")
		case strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && strings.Contains(a, "e") && len(a) > 2:
			// Bundled short flags such as -ec are not supported by mauflag either; let it complain.
		}
	}
	return path, ok
}

func writeExample(conn *bridge.Connector, path string) int {
	netExample, _, _ := conn.GetConfig()
	text, err := exampleConfig(conn.GetName(), netExample)
	if err != nil {
		fmt.Fprintln(os.Stderr, "Failed to build example config:", err)
		return 1
	}
	if path == "-" || path == "/dev/stdout" {
		fmt.Print(text)
		return 0
	}
	if _, err = os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintln(os.Stderr, path, "already exists, please remove it if you want to generate a new example")
		return 1
	}
	if err = os.WriteFile(path, []byte(text), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "Failed to write example config:", err)
		return 1
	}
	fmt.Println("Wrote example config to", path)
	return 0
}

// checkConfig adds Passerelle's own checks to mautrix's and completes the database settings
// (resolveDatabase).
func checkConfig(cfg *bridgeconfig.Config, configPath string) error {
	domain := cfg.Homeserver.Domain
	if domain != "example.com" {
		for key := range cfg.Bridge.Permissions {
			if key == "example.com" || strings.HasSuffix(key, ":example.com") {
				return fmt.Errorf("bridge.permissions: %q is left from the example; replace example.com with your homeserver's domain (%s)", key, domain)
			}
		}
	}
	if err := checkBinaryParameters(cfg.Database, cfg.Encryption.Allow); err != nil {
		return err
	}
	return resolveDatabase(&cfg.Database, filepath.Dir(configPath))
}
