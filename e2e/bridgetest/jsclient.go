package bridgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// JSReply is one message of the bot as the JavaScript client saw it.
type JSReply struct {
	EventID           string `json:"event_id"`
	WireType          string `json:"wire_type"`
	Type              string `json:"type"`
	Decrypted         bool   `json:"decrypted"`
	DecryptionFailure bool   `json:"decryption_failure"`
	MsgType           string `json:"msgtype"`
	Body              string `json:"body"`
	AfterCommand      bool   `json:"after_command"`
}

// JSResult is what e2e/jsclient/e2ee-command.mjs reports.
type JSResult struct {
	OK             bool           `json:"ok"`
	UserID         id.UserID      `json:"user_id"`
	DeviceID       id.DeviceID    `json:"device_id"`
	RoomID         id.RoomID      `json:"room_id"`
	RoomEncryption map[string]any `json:"room_encryption"`
	BotJoined      bool           `json:"bot_joined"`
	BotDevices     []string       `json:"bot_devices"`
	SentEventID    id.EventID     `json:"sent_event_id"`
	SentWireType   string         `json:"sent_wire_type"`
	Replies        []JSReply      `json:"replies"`
	Error          string         `json:"error"`
}

// JSCommand is one run of the independent encrypted client.
type JSCommand struct {
	// Localpart and Password of an existing user (hstest.NewUser sets hstest.Password).
	Localpart, Password string
	// Command is sent encrypted in a new encrypted DM with the bot; "help" when empty.
	Command string
	// Expect, when set, must be part of the decrypted reply.
	Expect string
	// Timeout for the whole run; 90 s when zero.
	Timeout time.Duration
}

var npmOnce struct {
	sync.Mutex
	done bool
}

// JSClientDir is e2e/jsclient in the module.
func JSClientDir(ctx context.Context) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	return filepath.Join(root, "e2e", "jsclient"), nil
}

// EnsureJSClient checks that Node.js and npm are installed and runs `npm ci` in e2e/jsclient
// when node_modules is missing. Without npm it fails the test with what to install.
func EnsureJSClient(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	dir, err := JSClientDir(ctx)
	if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err = exec.LookPath(tool); err != nil {
			t.Fatalf("bridgetest: the end-to-end encryption test needs Node.js 20+ with npm (%s not found on PATH: %v); "+
				"install them (e.g. apt-get install nodejs npm) and run the tests again", tool, err)
		}
	}
	npmOnce.Lock()
	defer npmOnce.Unlock()
	if npmOnce.done {
		return dir
	}
	if _, err = os.Stat(filepath.Join(dir, "node_modules")); os.IsNotExist(err) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bridgetest: npm ci in %s: %v\n%s", dir, err, out)
		}
	} else if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	npmOnce.done = true
	return dir
}

// RunJSCommand runs e2e/jsclient/e2ee-command.mjs against this bridge: matrix-js-sdk with its Rust
// crypto logs in as the user, opens an encrypted DM with the bot, sends the command encrypted
// and waits for an encrypted reply it can decrypt. It returns the client's report; a run that
// did not get such a reply returns the report with OK false and Error set (and the script's
// stderr in the test log), so the caller can assert on what went wrong.
func (b *Bridge) RunJSCommand(t testing.TB, c JSCommand) *JSResult {
	t.Helper()
	dir := EnsureJSClient(t)
	if c.Command == "" {
		c.Command = "help"
	}
	if c.Timeout == 0 {
		c.Timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.Timeout+15*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "e2ee-command.mjs",
		"--homeserver", b.Homeserver.URL,
		"--user", c.Localpart,
		"--password", c.Password,
		"--bot", b.Bot.String(),
		"--command", c.Command,
		"--expect", c.Expect,
		"--timeout-ms", strconv.FormatInt(c.Timeout.Milliseconds(), 10))
	cmd.Dir = dir
	hstest.BindToParent(cmd)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	runErr := cmd.Run()
	var res JSResult
	if err := json.Unmarshal(bytes.TrimSpace(stdout.Bytes()), &res); err != nil {
		t.Fatalf("bridgetest: the JS client printed no JSON report (exit: %v): %v\nstdout:\n%s\nstderr:\n%s",
			runErr, err, stdout.Bytes(), tail(stderr.Bytes(), 60))
	}
	if runErr != nil || !res.OK {
		t.Logf("bridgetest: JS client failed (exit: %v): %s\nstderr:\n%s", runErr, res.Error, tail(stderr.Bytes(), 60))
		if res.Error == "" {
			res.Error = fmt.Sprintf("exit: %v", runErr)
		}
		res.OK = false
	}
	return &res
}

func tail(b []byte, n int) []byte {
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return bytes.Join(lines, []byte("\n"))
}
