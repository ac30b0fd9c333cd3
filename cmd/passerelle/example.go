package main

import (
	"fmt"
	"strings"
	"text/template"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/matrix/mxmain"
)

// secureDefaults are Passerelle's changes to mautrix's example config: no event acknowledged
// before it is handled, an embedded SQLite file so a first run needs no database server,
// end-to-bridge encryption on for every new portal, and no access for users of other homeservers. Each `from` must occur exactly once in mautrix's example;
// a test fails when a mautrix upgrade moves one.
var secureDefaults = []struct{ from, to string }{
	// Hand remote events to the portal synchronously: with a buffer, bridgev2 reports an event
	// as accepted once it sits in memory, so the network acknowledges it (WhatsApp) or stores its
	// pts (Telegram) and a crash loses it.
	{"    portal_event_buffer: 64\n", "    portal_event_buffer: 0\n"},
	{"    type: postgres\n", "    type: sqlite3-fk-wal\n"},
	// Keep the pool open: with one idle connection the bridge reconnects to PostgreSQL for about
	// every other message (measured by make bench).
	{"    max_idle_conns: 1\n", "    max_idle_conns: 5\n"},
	{"    uri: postgres://user:password@host/database?sslmode=disable\n", "    uri: file:passerelle.db?_txlock=immediate\n"},
	{"        \"*\": relay\n", ""},
	{"    allow: false\n    # Whether to force-enable encryption in all bridged rooms.\n    default: false\n",
		"    allow: true\n    # Whether to force-enable encryption in all bridged rooms.\n    default: true\n"},
}

// exampleConfig is the text `passerelle -e` writes and config.example.yaml holds.
func exampleConfig(name bridgev2.BridgeName, networkExample string) (string, error) {
	base := mxmain.MatrixExampleConfigBase
	for _, d := range secureDefaults {
		if n := strings.Count(base, d.from); n != 1 {
			return "", fmt.Errorf("mautrix example config: expected %q once, found it %d times", d.from, n)
		}
		base = strings.Replace(base, d.from, d.to, 1)
	}
	tpl, err := template.New("example-config.yaml").Delims("$<<", ">>").Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse mautrix example config: %w", err)
	}
	var buf strings.Builder
	buf.WriteString("# Network-specific config options\n")
	buf.WriteString("network:\n")
	for _, line := range strings.Split(networkExample, "\n") {
		buf.WriteString("    ")
		buf.WriteString(line)
		buf.WriteRune('\n')
	}
	buf.WriteRune('\n')
	if err = tpl.Execute(&buf, name); err != nil {
		return "", fmt.Errorf("render example config: %w", err)
	}
	return buf.String(), nil
}
