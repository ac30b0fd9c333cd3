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

func TestCleanDetails(t *testing.T) {
	long := strings.Repeat("é", MaxDetailLen) // 2 bytes a rune: the cut must not split one
	cases := []struct {
		name string
		in   map[string]string
		want map[string]string
	}{
		{"nil", nil, nil},
		{"kept", map[string]string{"flow": "telegram-phone", "errcode": "M_FORBIDDEN", "reason": "no login permission"},
			map[string]string{"flow": "telegram-phone", "errcode": "M_FORBIDDEN", "reason": "no login permission"}},
		{"secret words dropped", map[string]string{"token": "syt_x", "shared_secret": "s3cr3t", "Login-Code": "12345",
			"auth.key": "k", "password": "p", "Authorization": "Bearer x", "remote_addr": "127.0.0.1:1"},
			map[string]string{"remote_addr": "127.0.0.1:1"}},
		{"long value cut", map[string]string{"reply": long}, map[string]string{"reply": long[:MaxDetailLen] + "…"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := cleanDetails(tc.in)
			if len(got) != len(tc.want) {
				t.Fatalf("cleanDetails(%v) = %v, want %v", tc.in, got, tc.want)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
}

func TestRefusalsFold(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	r := refusals{window: time.Minute, now: func() time.Time { return now }}
	steps := []struct {
		advance time.Duration
		key     string
		admit   bool
		folded  int
	}{
		{0, "a", true, 0},
		{time.Second, "a", false, 0},
		{time.Second, "a", false, 0},
		{0, "b", true, 0}, // another key is not held back by a
		{time.Minute, "a", true, 2},
		{time.Second, "a", false, 0},
		{2 * time.Minute, "a", true, 1},
		{2 * time.Minute, "a", true, 0},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		ok, n := r.admit(s.key)
		if ok != s.admit || n != s.folded {
			t.Errorf("step %d (%s): admit = %v, %d; want %v, %d", i, s.key, ok, n, s.admit, s.folded)
		}
	}
}

// TestRecordRefusal stores refusals on both engines: outcome refused, folded repeats counted in
// the next stored entry, secret-named details never stored nor logged.
func TestRecordRefusal(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		var logs strings.Builder
		l := New(db, zerolog.New(&logs))
		if err := l.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		now := time.UnixMilli(1_700_000_000_000)
		l.refused.now = func() time.Time { return now }
		entry := func() Entry {
			return Entry{Time: now, Action: "provisioning", Target: "/_matrix/provision/v3/logins",
				Details: map[string]string{"reason": "invalid shared secret or token", "remote_addr": "127.0.0.1:4000", "token": "syt_leaked"}}
		}
		key := "provisioning|127.0.0.1|invalid"
		for i := 0; i < 4; i++ {
			if err := l.RecordRefusal(ctx, key, entry()); err != nil {
				t.Fatal(err)
			}
			now = now.Add(time.Second)
		}
		now = now.Add(time.Minute)
		if err := l.RecordRefusal(ctx, key, entry()); err != nil {
			t.Fatal(err)
		}
		got, err := l.List(ctx, time.Time{}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("%d entries stored, want 2 (first, then one folding three): %+v", len(got), got)
		}
		newest, oldest := got[0], got[1]
		for _, e := range got {
			if e.Outcome != OutcomeRefused || e.Details["reason"] != "invalid shared secret or token" || e.Details["remote_addr"] != "127.0.0.1:4000" {
				t.Errorf("entry %+v", e)
			}
			if _, ok := e.Details["token"]; ok {
				t.Errorf("a token detail was stored: %+v", e)
			}
		}
		if _, ok := oldest.Details["folded"]; ok || newest.Details["folded"] != "3" {
			t.Errorf("folded counts: first %q, second %q; want none and 3", oldest.Details["folded"], newest.Details["folded"])
		}
		if strings.Contains(logs.String(), "syt_leaked") {
			t.Errorf("the token reached the log: %s", logs.String())
		}
		if !strings.Contains(logs.String(), `"outcome":"refused"`) {
			t.Errorf("no refused log line: %s", logs.String())
		}
	})
}
