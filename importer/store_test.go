package importer

import (
	"context"
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
		for i, key := range []string{"tg:1:1", "tg:1:2", "tg:1:1"} {
			if err = s.MarkImported(ctx, "tg.c1|", key, id.EventID("$"+key+string(rune('a'+i))), now); err != nil {
				t.Fatal(err)
			}
		}
		done, err := s.Imported(ctx, "tg.c1|")
		if err != nil || len(done) != 2 || done["tg:1:1"] != "$tg:1:1c" || done["tg:1:2"] != "$tg:1:2b" {
			t.Fatalf("Imported = %v, %v", done, err)
		}
		if other, _ := s.Imported(ctx, "tg.c2|"); len(other) != 0 {
			t.Fatalf("keys leaked across scopes: %v", other)
		}
	})
}
