package bridgetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot is the directory of Passerelle's go.mod, found through `go env GOMOD` so tests work
// from any package directory.
func ModuleRoot(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find the module root with `go env GOMOD`: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("find the module root: not inside a Go module (go env GOMOD = %q)", gomod)
	}
	return filepath.Dir(gomod), nil
}

// BuildBinary compiles ./cmd/passerelle (cgo on, tag goolm, as the release is built) into outDir
// and returns the binary's path. Test binaries call it once, from TestMain.
func BuildBinary(ctx context.Context, outDir string) (string, error) {
	root, err := ModuleRoot(ctx)
	if err != nil {
		return "", err
	}
	bin := filepath.Join(outDir, "passerelle")
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "goolm", "-o", bin, "./cmd/passerelle")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err = cmd.Run(); err != nil {
		return "", fmt.Errorf("build ./cmd/passerelle in %s: %w\n%s", root, err, out.Bytes())
	}
	return bin, nil
}
