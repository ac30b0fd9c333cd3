package importer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// The recorder writes what was added once flushed or closed, also after the import's context is
// cancelled (what was sent must be recorded), and stops the import after a failed write.
func TestRecorder(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) { testRecorder(t, engine) })
	}
}

func testRecorder(t *testing.T, engine string) {
	s := NewStore(dbtest.Open(t, engine), "br", zerolog.Nop())
	if err := s.Upgrade(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rc := newRecorder(ctx, s, nil)
	add := func(scope string, from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			if err := rc.add(ImportedRow{Scope: scope, Key: fmt.Sprint("k", i), Event: id.EventID(fmt.Sprint("$", i)), Time: time.Now()}, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(scope string) int {
		t.Helper()
		done, err := s.Imported(context.Background(), scope)
		if err != nil {
			t.Fatal(err)
		}
		return len(done)
	}
	add("a|", 0, 500)
	if err := rc.flush(); err != nil {
		t.Fatal(err)
	}
	if n := count("a|"); n != 500 {
		t.Fatalf("after flush: %d rows recorded, want 500", n)
	}
	add("b|", 0, 3)
	cancel()
	if err := rc.close(); err != nil {
		t.Fatal(err)
	}
	if n := count("b|"); n != 3 {
		t.Fatalf("after close with a cancelled import: %d rows recorded, want 3", n)
	}

	// A store never upgraded on an empty database fails its first write; the import learns it.
	empty := NewStore(dbtest.Open(t, engine), "br", zerolog.Nop())
	rc = newRecorder(context.Background(), empty, nil)
	if err := rc.add(ImportedRow{Scope: "c|", Key: "k", Event: "$e", Time: time.Now()}, nil); err != nil {
		t.Fatalf("first add: %v", err)
	}
	if err := rc.flush(); err == nil {
		t.Fatal("flush after a failed write: no error")
	}
	if err := rc.add(ImportedRow{Scope: "c|", Key: "k2", Event: "$e2", Time: time.Now()}, nil); err == nil {
		t.Fatal("add after a failed write: no error")
	}
	if err := rc.close(); err == nil {
		t.Fatal("close after a failed write: no error")
	}
}
