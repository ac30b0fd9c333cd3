package audit

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

func TestRecordListExport(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		var logs strings.Builder
		l := New(db, zerolog.New(&logs))
		if err := l.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		// Upgrading twice is a no-op (every start runs it).
		if err := l.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		base := time.UnixMilli(1_700_000_000_000)
		entries := []Entry{
			{Time: base, Actor: "@alice:gov.example", Action: "login", Network: "wa", Target: "wa.33612345678", Outcome: "ok", Details: map[string]string{"flow": "whatsapp-qr"}},
			{Time: base.Add(time.Second), Actor: "@alice:gov.example", Action: "set-relay", Target: "!room:gov.example", Outcome: "ok"},
			{Time: base.Add(2 * time.Second), Actor: "@bob:gov.example", Action: "logout", Network: "tg", Target: "tg.5000", Outcome: "failed"},
		}
		for _, e := range entries {
			if err := l.Record(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		got, err := l.List(ctx, base.Add(time.Second), 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].Action != "logout" || got[1].Action != "set-relay" {
			t.Fatalf("List since +1s = %+v", got)
		}
		all, err := l.List(ctx, time.Time{}, 2)
		if err != nil || len(all) != 2 {
			t.Fatalf("List limit 2 = %d entries, %v", len(all), err)
		}
		first, _ := l.List(ctx, base, 0)
		login := first[len(first)-1]
		if login.Details["flow"] != "whatsapp-qr" || !login.Time.Equal(base) || login.ID == "" {
			t.Fatalf("login entry = %+v", login)
		}
		out := string(ExportJSONL(first))
		if strings.Count(out, "\n") != 3 || !strings.Contains(out, `"action":"login"`) {
			t.Fatalf("export = %s", out)
		}
		if !strings.Contains(logs.String(), `"action":"set-relay"`) {
			t.Fatalf("no audit log line: %s", logs.String())
		}
	})
}
