package hstest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
)

// DendriteVersion is the homeserver release the tests run against. It is pinned so a test run
// is reproducible and the cached build can be reused across runs.
const DendriteVersion = "v0.13.8"

// dendriteCommands are the three programs the harness needs from the Dendrite module.
var dendriteCommands = []string{"dendrite", "generate-keys", "generate-config"}

// CacheDir is where slow-to-build test tools are kept between runs: $PASSERELLE_CACHE, or
// $HOME/.cache/passerelle when that is unset.
func CacheDir() (string, error) {
	if dir := os.Getenv("PASSERELLE_CACHE"); dir != "" {
		return dir, nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("find the cache directory: set PASSERELLE_CACHE or HOME: %w", err)
	}
	return filepath.Join(home, ".cache", "passerelle"), nil
}

// EnsureDendrite returns the directory holding the dendrite, generate-keys and generate-config
// binaries, building them with `go install` the first time (about 75 s). A file lock in the cache
// directory makes parallel test binaries wait for one build instead of each running their own.
func EnsureDendrite(ctx context.Context) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	root := filepath.Join(cache, "dendrite-"+DendriteVersion)
	bin := filepath.Join(root, "bin")
	if haveBinaries(bin) {
		return bin, nil
	}
	if err = os.MkdirAll(root, 0o755); err != nil {
		return "", fmt.Errorf("create dendrite cache directory %s: %w", root, err)
	}
	unlock, err := lockFile(filepath.Join(root, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	// Another test binary may have finished the build while we waited for the lock.
	if haveBinaries(bin) {
		return bin, nil
	}
	if err = buildDendrite(ctx, root, bin); err != nil {
		return "", err
	}
	return bin, nil
}

func haveBinaries(bin string) bool {
	for _, name := range dendriteCommands {
		info, err := os.Stat(filepath.Join(bin, name))
		if err != nil || info.IsDir() || info.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

// buildDendrite installs into a scratch directory and renames it into place, so a build that is
// interrupted never leaves a half-filled bin directory that later runs would trust.
func buildDendrite(ctx context.Context, root, bin string) error {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, statErr := os.Stat(goTool); statErr != nil {
			return fmt.Errorf("build dendrite: the go tool is not on PATH: %w", err)
		}
	}
	scratch, err := os.MkdirTemp(root, "bin.tmp-")
	if err != nil {
		return fmt.Errorf("build dendrite: create scratch directory: %w", err)
	}
	defer os.RemoveAll(scratch)
	if err = os.Chmod(scratch, 0o755); err != nil {
		return fmt.Errorf("build dendrite: %w", err)
	}
	args := []string{"install"}
	for _, name := range dendriteCommands {
		args = append(args, "github.com/matrix-org/dendrite/cmd/"+name+"@"+DendriteVersion)
	}
	logPath := filepath.Join(root, "build.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return fmt.Errorf("build dendrite: create %s: %w", logPath, err)
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, goTool, args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOBIN="+scratch, "CGO_ENABLED=1", "GOWORK=off", "GOFLAGS=")
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err = cmd.Run(); err != nil {
		return fmt.Errorf("build dendrite %s (go %v; output in %s): %w", DendriteVersion, args, logPath, err)
	}
	if !haveBinaries(scratch) {
		return fmt.Errorf("build dendrite %s: go install finished but %v are missing from %s (see %s)",
			DendriteVersion, dendriteCommands, scratch, logPath)
	}
	_ = os.RemoveAll(bin)
	if err = os.Rename(scratch, bin); err != nil {
		return fmt.Errorf("build dendrite: move binaries into %s: %w", bin, err)
	}
	return nil
}

// lockFile takes an exclusive advisory lock on path, blocking until it is free.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", path, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}
