package importer

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestStore(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		s := NewStore(db, "br", zerolog.Nop())
		for range 2 { // upgrading twice is a no-op
			if err := s.Upgrade(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if r, err := s.GetRoom(ctx, "tg.c1|"); err != nil || r != nil {
			t.Fatalf("GetRoom of an unknown scope = %v, %v", r, err)
		}
		want := &ImportRoom{Scope: "tg.c1|", RoomID: "!a:x", Kind: KindArchive, User: "@u:x"}
		if err := s.PutRoom(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetRoom(ctx, "tg.c1|")
		if err != nil || *got != *want {
			t.Fatalf("GetRoom = %+v, %v; want %+v", got, err, want)
		}
		// Another bridge ID on the same database sees nothing.
		if r, _ := NewStore(db, "other", zerolog.Nop()).GetRoom(ctx, "tg.c1|"); r != nil {
			t.Fatalf("room leaked across bridge IDs: %+v", r)
		}
		now := time.Now()
		row := func(key, evt string) ImportedRow {
			return ImportedRow{Scope: "tg.c1|", Key: key, Event: id.EventID(evt), Time: now}
		}
		// A key repeated in one batch keeps its last event; a later batch overwrites.
		if err = s.MarkImportedBatch(ctx, []ImportedRow{row("tg:1:1", "$a"), row("tg:1:2", "$b"), row("tg:1:1", "$c")}); err != nil {
			t.Fatal(err)
		}
		if err = s.MarkImportedBatch(ctx, []ImportedRow{row("tg:1:2", "$d")}); err != nil {
			t.Fatal(err)
		}
		done, err := s.Imported(ctx, "tg.c1|")
		if err != nil || len(done) != 2 || done["tg:1:1"] != "$c" || done["tg:1:2"] != "$d" {
			t.Fatalf("Imported = %v, %v", done, err)
		}
		// More rows than one statement takes are split.
		var many []ImportedRow
		for i := range 2*maxBatchRows + 7 {
			many = append(many, ImportedRow{Scope: "tg.big|", Key: fmt.Sprint("k", i), Event: id.EventID(fmt.Sprint("$e", i)), Time: now})
		}
		if err = s.MarkImportedBatch(ctx, many); err != nil {
			t.Fatal(err)
		}
		if big, err := s.Imported(ctx, "tg.big|"); err != nil || len(big) != len(many) || big["k300"] != "$e300" {
			t.Fatalf("Imported after %d rows = %d rows, %v", len(many), len(big), err)
		}
		if other, _ := s.Imported(ctx, "tg.c2|"); len(other) != 0 {
			t.Fatalf("keys leaked across scopes: %v", other)
		}
	})
}
