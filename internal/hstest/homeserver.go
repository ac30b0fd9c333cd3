// Package hstest runs a real Matrix homeserver (Dendrite) for end-to-end tests of the bridge.
//
// Bridge behaviour that matters to users — the bot answering, rooms being encrypted, messages
// arriving — only shows against a real homeserver, so tests start one here instead of faking the
// client-server and appservice APIs. Dendrite is built once into a cache directory (see
// EnsureDendrite), each Homeserver gets its own data directory and loopback port, and the
// process is stopped and its data removed when the test ends.
//
//	hs := hstest.New(t, hstest.Options{AppServices: []string{"registration.yaml"}})
//	alice := hs.NewUser(t, "alice")
//
// The server name is always "localhost"; the client API is at hs.URL.
package hstest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// ServerName is the Matrix server name of every test homeserver: user IDs end in ":localhost".
const ServerName = "localhost"

// StartTimeout bounds how long a (re)started homeserver may take to answer client requests.
const StartTimeout = 90 * time.Second

// stopTimeout is how long Dendrite gets to shut down after SIGTERM before it is killed.
const stopTimeout = 20 * time.Second

// Options configures a test homeserver.
type Options struct {
	// AppServices are appservice registration files (YAML) Dendrite loads at start. Dendrite only
	// reads them at start: use AddAppService and Restart to add one later.
	AppServices []string
	// LogLevel is Dendrite's log level: "info" when empty; "debug" or "trace" to investigate.
	LogLevel string
	// Dir, when set, is a data directory to keep (a demo that survives restarts): it is created
	// if missing, its config and signing key are reused when present, Close leaves it in place,
	// and the log is Dir/dendrite.log. Empty: a temporary directory, removed by Close.
	Dir string
	// TempRoot, when set and Dir is empty, is the directory the temporary data directory and log
	// are created in (instead of os.TempDir()): a tmpfs such as /dev/shm takes the disk's fsyncs
	// out of a benchmark's measure of the homeserver (its SQLite databases and JetStream commit
	// every event). Empty: os.TempDir().
	TempRoot string
	// Addr, when set, is the host:port to listen on (e.g. "127.0.0.1:8008" for a demo that a
	// client is pointed at); empty picks a free loopback port.
	Addr string
}

// Homeserver is a running (or stopped) Dendrite with its own data directory and port.
type Homeserver struct {
	// ServerName is the Matrix server name ("localhost").
	ServerName string
	// URL is the client-server API base, e.g. "http://127.0.0.1:41234".
	URL string
	// Addr is the host:port Dendrite listens on; it stays the same across restarts.
	Addr string
	// Dir holds the config, signing key, databases and media; Close removes it unless it was
	// given in Options.Dir.
	Dir string
	// ConfigPath is Dendrite's YAML config inside Dir.
	ConfigPath string
	// LogPath is the file Dendrite's stdout and stderr are appended to, across restarts.
	LogPath string

	bin string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	closed  bool
	keepLog bool
	ownsDir bool
}

// New starts a homeserver for the test and stops it, removing its data, when the test ends.
// If the test failed the Dendrite log is kept and its path and last lines are logged.
func New(t testing.TB, opts Options) *Homeserver {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	hs, err := Launch(ctx, opts)
	if err != nil {
		t.Fatalf("hstest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hstest: dendrite log kept at %s; last lines:\n%s", hs.LogPath, hs.LogTail(30))
			if err := hs.closeKeepLog(true); err != nil {
				t.Logf("hstest: %v", err)
			}
			return
		}
		if err := hs.Close(); err != nil {
			t.Errorf("hstest: %v", err)
		}
	})
	return hs
}

// Launch builds Dendrite if needed, creates a data directory and starts the homeserver on a free
// loopback port, returning once the client API answers. It is for callers without a testing.TB
// (TestMain, demos); call Close when done. Tests should use New.
func Launch(ctx context.Context, opts Options) (*Homeserver, error) {
	bin, err := EnsureDendrite(ctx)
	if err != nil {
		return nil, err
	}
	hs := &Homeserver{ServerName: ServerName, Dir: opts.Dir, bin: bin}
	if hs.Dir == "" {
		if hs.Dir, err = os.MkdirTemp(opts.TempRoot, "passerelle-dendrite-"); err != nil {
			return nil, fmt.Errorf("create dendrite data directory: %w", err)
		}
		hs.ownsDir = true
		logFile, err := os.CreateTemp(opts.TempRoot, "passerelle-dendrite-*.log")
		if err != nil {
			_ = os.RemoveAll(hs.Dir)
			return nil, fmt.Errorf("create dendrite log file: %w", err)
		}
		_ = logFile.Close()
		hs.LogPath = logFile.Name()
	} else {
		if hs.Dir, err = filepath.Abs(hs.Dir); err != nil {
			return nil, fmt.Errorf("dendrite data directory %q: %w", opts.Dir, err)
		}
		if err = os.MkdirAll(hs.Dir, 0o700); err != nil {
			return nil, fmt.Errorf("create dendrite data directory: %w", err)
		}
		hs.LogPath = filepath.Join(hs.Dir, "dendrite.log")
	}
	existing := filepath.Join(hs.Dir, "dendrite.yaml")
	if _, statErr := os.Stat(existing); statErr == nil && !hs.ownsDir {
		// A kept data directory: same keys and databases, settings (and appservices) refreshed.
		hs.ConfigPath = existing
		err = refreshConfig(existing, hs.Dir, opts)
	} else {
		hs.ConfigPath, err = generateConfig(ctx, bin, hs.Dir, opts)
	}
	if err != nil {
		_ = hs.Close()
		return nil, err
	}
	if opts.Addr != "" {
		hs.Addr = opts.Addr
		hs.URL = "http://" + hs.Addr
		if err = hs.Start(ctx); err != nil {
			_ = hs.closeKeepLog(true)
			return nil, fmt.Errorf("%w (dendrite log: %s)", err, hs.LogPath)
		}
		return hs, nil
	}
	// A free port found by listening and closing can be taken by someone else before Dendrite
	// binds it; try a few ports before giving up.
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			_ = hs.Close()
			return nil, err
		}
		hs.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		hs.URL = "http://" + hs.Addr
		err = hs.Start(ctx)
		if err == nil {
			return hs, nil
		}
		if attempt >= 3 || !strings.Contains(hs.LogTail(20), "address already in use") {
			_ = hs.closeKeepLog(true)
			return nil, fmt.Errorf("%w (dendrite log: %s)", err, hs.LogPath)
		}
	}
}

// Start runs Dendrite on the homeserver's address and data directory and waits until the client
// API answers. Use it after Stop to bring the same homeserver back.
func (hs *Homeserver) Start(ctx context.Context) error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.closed {
		return errors.New("start dendrite: homeserver was closed")
	}
	if hs.cmd != nil {
		return fmt.Errorf("start dendrite: already running on %s", hs.Addr)
	}
	logFile, err := os.OpenFile(hs.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open dendrite log %s: %w", hs.LogPath, err)
	}
	_, _ = fmt.Fprintf(logFile, "=== hstest: starting dendrite on %s at %s\n", hs.Addr, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(filepath.Join(hs.bin, "dendrite"),
		"-config", hs.ConfigPath,
		"-http-bind-address", hs.Addr,
		"-really-enable-open-registration")
	cmd.Dir = hs.Dir
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	BindToParent(cmd)
	if err = cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("start dendrite: %w", err)
	}
	exited := make(chan struct{})
	hs.cmd, hs.exited, hs.waitErr = cmd, exited, nil
	go func() {
		err := cmd.Wait()
		_ = logFile.Close()
		hs.mu.Lock()
		hs.waitErr = err
		hs.mu.Unlock()
		close(exited)
	}()
	if err = waitReady(ctx, hs.URL, exited); err != nil {
		hs.stopLocked()
		return err
	}
	return nil
}

// Stop shuts Dendrite down (SIGTERM, then SIGKILL after 20 s) and keeps its data, so Start can
// bring it back: the way to test how the bridge copes with a homeserver outage or restart.
func (hs *Homeserver) Stop() error {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return hs.stopLocked()
}

func (hs *Homeserver) stopLocked() error {
	if hs.cmd == nil {
		return nil
	}
	cmd, exited := hs.cmd, hs.exited
	hs.cmd = nil
	_ = cmd.Process.Signal(syscall.SIGTERM)
	hs.mu.Unlock()
	var err error
	select {
	case <-exited:
	case <-time.After(stopTimeout):
		_ = cmd.Process.Kill()
		<-exited
		err = fmt.Errorf("stop dendrite: it ignored SIGTERM for %s and was killed (log: %s)", stopTimeout, hs.LogPath)
	}
	hs.mu.Lock()
	return err
}

// Kill ends Dendrite with SIGKILL, as a crash or an OOM kill would, keeping its data so Start
// can bring it back: fault tests use it to prove nothing is lost when the homeserver dies
// mid-request.
func (hs *Homeserver) Kill() error {
	hs.mu.Lock()
	cmd, exited := hs.cmd, hs.exited
	hs.cmd = nil
	hs.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Kill(); err != nil {
		return fmt.Errorf("kill dendrite: %w", err)
	}
	<-exited
	return nil
}

// Restart stops and starts the homeserver, keeping its data and address.
func (hs *Homeserver) Restart(ctx context.Context) error {
	if err := hs.Stop(); err != nil {
		return err
	}
	return hs.Start(ctx)
}

// Running reports whether the Dendrite process is up.
func (hs *Homeserver) Running() bool {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	if hs.cmd == nil {
		return false
	}
	select {
	case <-hs.exited:
		return false
	default:
		return true
	}
}

// AddAppService adds a registration file to the config. Dendrite reads registrations only at
// start, so it takes effect at the next Start or Restart.
func (hs *Homeserver) AddAppService(registrationPath string) error {
	abs, err := filepath.Abs(registrationPath)
	if err != nil {
		return fmt.Errorf("appservice registration path %q: %w", registrationPath, err)
	}
	if _, err = os.Stat(abs); err != nil {
		return fmt.Errorf("appservice registration %s: %w", abs, err)
	}
	cfg, err := readYAML(hs.ConfigPath)
	if err != nil {
		return err
	}
	as, _ := cfg["app_service_api"].(map[string]any)
	if as == nil {
		return fmt.Errorf("dendrite config %s has no app_service_api section", hs.ConfigPath)
	}
	files, _ := as["config_files"].([]any)
	for _, f := range files {
		if f == abs {
			return nil
		}
	}
	as["config_files"] = append(files, abs)
	return writeYAML(hs.ConfigPath, cfg)
}

// Close stops Dendrite and removes its temporary data directory and log (unless KeepLog was
// called); a directory given in Options.Dir is left in place.
func (hs *Homeserver) Close() error {
	hs.mu.Lock()
	keep := hs.keepLog
	hs.mu.Unlock()
	return hs.closeKeepLog(keep)
}

// KeepLog makes Close leave the log file in place, for a caller that saw a failure and printed
// LogPath.
func (hs *Homeserver) KeepLog() {
	hs.mu.Lock()
	hs.keepLog = true
	hs.mu.Unlock()
}

func (hs *Homeserver) closeKeepLog(keepLog bool) error {
	hs.mu.Lock()
	hs.closed = true
	stopErr := hs.stopLocked()
	hs.mu.Unlock()
	var errs []error
	if stopErr != nil {
		errs = append(errs, stopErr)
	}
	if hs.ownsDir {
		if err := os.RemoveAll(hs.Dir); err != nil {
			errs = append(errs, fmt.Errorf("remove dendrite data %s: %w", hs.Dir, err))
		}
	}
	if !keepLog && hs.ownsDir && hs.LogPath != "" {
		if err := os.Remove(hs.LogPath); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove dendrite log: %w", err))
		}
	}
	return errors.Join(errs...)
}

// LogTail returns the last n lines of the Dendrite log, for failure messages.
func (hs *Homeserver) LogTail(n int) string {
	raw, err := os.ReadFile(hs.LogPath)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", hs.LogPath, err)
	}
	lines := bytes.Split(bytes.TrimRight(raw, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}

// waitReady polls /_matrix/client/versions until it answers 200, the process exits, or the
// start timeout passes.
func waitReady(ctx context.Context, baseURL string, exited <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, StartTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/_matrix/client/versions", nil)
		if err != nil {
			return fmt.Errorf("wait for dendrite: %w", err)
		}
		resp, err := client.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("GET /_matrix/client/versions: HTTP %d", resp.StatusCode)
		} else {
			lastErr = err
		}
		select {
		case <-exited:
			return errors.New("dendrite exited before its client API answered")
		case <-ctx.Done():
			return fmt.Errorf("dendrite did not answer on %s within %s: %w", baseURL, StartTimeout, lastErr)
		case <-tick.C:
		}
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, for servers the tests
// start (homeserver, bridge appservice listener).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
