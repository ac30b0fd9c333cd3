package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
)

// passerelleBin is the bridge binary built once for all tests of this package.
var passerelleBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "passerelle-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: create binary directory:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	passerelleBin, err = bridgetest.BuildBinary(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e:", err)
		return 1
	}
	return m.Run()
}
