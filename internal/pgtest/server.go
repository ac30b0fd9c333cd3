// Package pgtest runs a private PostgreSQL server for fault tests: one that a test may kill
// with SIGKILL and start again (crash recovery from the WAL, as after a power cut) without
// touching the machine's shared server that every other test uses.
//
// It needs the PostgreSQL server binaries (Debian's postgresql package: initdb and postgres
// under /usr/lib/postgresql/<version>/bin, or PASSERELLE_PG_BIN). PostgreSQL refuses to run as
// root, so when the test runs as root the cluster belongs to the "postgres" system user.
package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/lib/pq"
)

// Server is a private PostgreSQL cluster listening on 127.0.0.1.
type Server struct {
	// Port is the TCP port on 127.0.0.1.
	Port int
	// LogPath receives the server's log across restarts.
	LogPath string

	bin     string
	dataDir string
	root    string
	cred    *syscall.Credential

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// BinDir finds the PostgreSQL server binaries: PASSERELLE_PG_BIN, else the newest
// /usr/lib/postgresql/*/bin holding initdb.
func BinDir() (string, error) {
	if dir := os.Getenv("PASSERELLE_PG_BIN"); dir != "" {
		return dir, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", errors.New("pgtest: no PostgreSQL server binaries (install Debian's postgresql package or set PASSERELLE_PG_BIN)")
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start creates a cluster in a temporary directory, starts it and stops and removes it when t
// ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s, err := Launch(context.Background())
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pgtest: PostgreSQL log kept at %s", s.LogPath)
			_ = s.Kill()
			return
		}
		_ = s.Close()
	})
	return s
}

// Launch is Start without a testing.TB; the caller must Close it.
func Launch(ctx context.Context) (*Server, error) {
	bin, err := BinDir()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "passerelle-pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: temp dir: %w", err)
	}
	s := &Server{bin: bin, root: root, dataDir: filepath.Join(root, "data"), LogPath: filepath.Join(root, "postgres.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("pgtest: running as root needs the postgres system user: %w", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chmod(root, 0o755); err != nil {
			return nil, err
		}
		if err := os.Chown(root, uid, gid); err != nil {
			return nil, fmt.Errorf("pgtest: hand %s to postgres: %w", root, err)
		}
	}
	if s.Port, err = freePort(); err != nil {
		return nil, err
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", s.dataDir, "-U", "postgres",
		"--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL}
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	if err := s.Start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// URI is a lib/pq URI for a database on this server.
func (s *Server) URI(database string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, database)
}

// CreateDatabase makes an empty database and returns its URI.
func (s *Server) CreateDatabase(ctx context.Context, name string) (string, error) {
	db, err := sql.Open("postgres", s.URI("postgres"))
	if err != nil {
		return "", err
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `CREATE DATABASE "`+name+`"`); err != nil {
		return "", fmt.Errorf("pgtest: create database %s: %w", name, err)
	}
	return s.URI(name), nil
}

// Start runs the server on its data directory (recovering from the WAL after a Kill) and waits
// until it accepts connections.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("pgtest: already running")
	}
	for attempt := 1; ; attempt++ {
		err := s.start(ctx)
		if err == nil || !errors.Is(err, errShmInUse) || attempt == 20 {
			return err
		}
		// A process of the killed server still holds the shared memory; it is on its way out.
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// errShmInUse is a start refused because a process of the previous server still holds its
// shared memory.
var errShmInUse = errors.New("the previous server's shared memory is still in use")

// start is one attempt of Start; s.mu is held.
func (s *Server) start(ctx context.Context) error {
	logStart := int64(0)
	if fi, err := os.Stat(s.LogPath); err == nil {
		logStart = fi.Size()
	}
	logFile, err := os.OpenFile(s.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pgtest: open log: %w", err)
	}
	cmd := exec.Command(filepath.Join(s.bin, "postgres"), "-D", s.dataDir,
		"-p", strconv.Itoa(s.Port), "-k", s.root, "-c", "listen_addresses=127.0.0.1",
		"-c", "max_connections=200")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Own process group, so Kill takes the backends down with the postmaster, as a crash of
	// the machine's database would.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred, Pdeathsig: syscall.SIGKILL, Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = logFile.Close()
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	exited := make(chan struct{})
	s.cmd, s.exited = cmd, exited
	go func() {
		_ = cmd.Wait()
		_ = logFile.Close()
		close(exited)
	}()
	deadline := time.Now().Add(60 * time.Second)
	for {
		db, err := sql.Open("postgres", s.URI("postgres"))
		if err == nil {
			err = db.PingContext(ctx)
			_ = db.Close()
		}
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			s.cmd = nil
			if logged, _ := os.ReadFile(s.LogPath); int64(len(logged)) > logStart &&
				strings.Contains(string(logged[logStart:]), "pre-existing shared memory block") {
				return fmt.Errorf("pgtest: postgres exited during start-up: %w (log: %s)", errShmInUse, s.LogPath)
			}
			return fmt.Errorf("pgtest: postgres exited during start-up (log: %s)", s.LogPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgtest: postgres not ready after 60 s: %v (log: %s)", err, s.LogPath)
		}
	}
}

// Kill ends the postmaster and every backend with SIGKILL: uncommitted work is gone, committed
// work must come back on Start.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return nil
	}
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	kids := killTree(cmd.Process.Pid)
	<-exited
	// The children are not ours: they go to init, which reaps them in its own time. Until each
	// is gone it holds the shared memory (the next start refuses with "pre-existing shared
	// memory block is still in use"; seen in CI) and, a backend, its client's connection. This
	// waits 5 s at most; Start retries that refusal too.
	for i := 0; i < 100; i++ {
		alive := false
		for _, k := range kids {
			alive = alive || !gone(k)
		}
		if !alive {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Nothing may accept connections on the port any more.
	for i := 0; i < 100; i++ {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.Port), 100*time.Millisecond)
		if err != nil {
			break
		}
		_ = c.Close()
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

// Close stops the server (fast shutdown) and removes its directory.
func (s *Server) Close() error {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-exited:
		case <-time.After(30 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	return os.RemoveAll(s.root)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
