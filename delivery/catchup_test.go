package delivery

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// fakeRooms is a homeserver's /sync and /messages over a fixed timeline per room: events after
// the position "since" was given at are returned; a room with more than syncLimit new events is
// limited and the rest is read through /messages.
type fakeRooms struct {
	mu        sync.Mutex
	timelines map[id.RoomID][]map[string]any
	pos       int // total events appended; positions are "p<N>"
	at        map[id.RoomID][]int
	syncLimit int
	messages  int // /messages calls
}

func (f *fakeRooms) add(room id.RoomID, evtID, sender string, ts time.Time) {
	f.addEvent(room, map[string]any{
		"type": "m.room.message", "event_id": evtID, "sender": sender, "origin_server_ts": ts.UnixMilli(),
		"content": map[string]any{"msgtype": "m.text", "body": evtID},
	})
}

// addState appends a state event (content holds its event ID, to tell handovers apart).
func (f *fakeRooms) addState(room id.RoomID, evtType, stateKey, evtID, sender string, ts time.Time) {
	f.addEvent(room, map[string]any{
		"type": evtType, "state_key": stateKey, "event_id": evtID, "sender": sender, "origin_server_ts": ts.UnixMilli(),
		"content": map[string]any{"name": evtID, "membership": "leave"},
	})
}

func (f *fakeRooms) addEvent(room id.RoomID, evt map[string]any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pos++
	f.timelines[room] = append(f.timelines[room], evt)
	f.at[room] = append(f.at[room], f.pos)
}

func (f *fakeRooms) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	var since int
	switch {
	case strings.HasSuffix(r.URL.Path, "/sync"):
		if s := q.Get("since"); s != "" {
			_, _ = fmt.Sscanf(s, "p%d", &since)
		}
		join := map[id.RoomID]any{}
		if q.Get("since") != "" {
			for room, evts := range f.timelines {
				var fresh []map[string]any
				for i, e := range evts {
					if f.at[room][i] > since {
						fresh = append(fresh, e)
					}
				}
				if len(fresh) == 0 {
					continue
				}
				limited := len(fresh) > f.syncLimit
				prev := ""
				if limited {
					cut := len(fresh) - f.syncLimit
					prev = fmt.Sprintf("p%d", f.at[room][len(evts)-f.syncLimit-1])
					fresh = fresh[cut:]
				}
				join[room] = map[string]any{"timeline": map[string]any{"events": fresh, "limited": limited, "prev_batch": prev}}
			}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"next_batch": fmt.Sprintf("p%d", f.pos), "rooms": map[string]any{"join": join}})
	case strings.HasSuffix(r.URL.Path, "/messages"):
		f.messages++
		parts := strings.Split(r.URL.Path, "/")
		room := id.RoomID(parts[len(parts)-2])
		var from, to int
		_, _ = fmt.Sscanf(q.Get("from"), "p%d", &from)
		_, _ = fmt.Sscanf(q.Get("to"), "p%d", &to)
		var chunk []map[string]any
		end := ""
		evts := f.timelines[room]
		for i := len(evts) - 1; i >= 0; i-- {
			p := f.at[room][i]
			if p > from || p <= to {
				continue
			}
			if len(chunk) == 2 { // small pages, to exercise paging
				end = fmt.Sprintf("p%d", p)
				break
			}
			chunk = append(chunk, evts[i])
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"chunk": chunk, "end": end})
	default:
		http.NotFound(w, r)
	}
}

func newCatchupTest(t *testing.T, fail map[id.EventID]bool) (c *Catchup, hs *fakeRooms, now *time.Time, asURL string, handled func() []id.EventID) {
	t.Helper()
	var mu sync.Mutex
	var got []id.EventID
	asURL, _, in := testAS(t, func(evt *event.Event) *bridgev2.MessageStatus {
		mu.Lock()
		defer mu.Unlock()
		if fail[evt.ID] {
			delete(fail, evt.ID)
			return &bridgev2.MessageStatus{Status: event.MessageStatusRetriable, InternalError: fmt.Errorf("%w: database down", bridgev2.ErrDatabaseError)}
		}
		got = append(got, evt.ID)
		return &bridgev2.MessageStatus{Status: event.MessageStatusSuccess}
	})
	in.ownUser = func(u id.UserID) bool { return strings.HasPrefix(string(u), "@bridge_") }
	hs = &fakeRooms{timelines: map[id.RoomID][]map[string]any{}, at: map[id.RoomID][]int{}, syncLimit: 3}
	srv := httptest.NewServer(hs)
	t.Cleanup(srv.Close)
	cli, err := mautrix.NewClient(srv.URL, "@bot:x", "as-secret")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	now = &start
	c = NewCatchup(in, cli, time.Second, time.Minute)
	c.now = func() time.Time { return *now }
	if err := c.Sweep(context.Background()); err != nil {
		t.Fatalf("first sweep: %v", err)
	}
	return c, hs, now, asURL, func() []id.EventID {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
}

func TestCatchup(t *testing.T) {
	const room, quiet = id.RoomID("!busy:x"), id.RoomID("!quiet:x")
	ctx := context.Background()

	t.Run("dropped event followed by a pushed one is handed over at once", func(t *testing.T) {
		c, hs, now, _, handled := newCatchupTest(t, nil)
		hs.add(room, "$pushed1", "@alice:x", *now)
		hs.add(room, "$dropped", "@alice:x", *now)
		hs.add(room, "$own", "@bridge_tg.1:x", *now)
		c.in.seen.add([]id.EventID{"$pushed1", "$own"})
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); !slices.Equal(got, []id.EventID{"$dropped"}) {
			t.Fatalf("handled %v, want only the dropped event", got)
		}
		if c.token != fmt.Sprintf("p%d", hs.pos) {
			t.Errorf("position %q not moved to p%d", c.token, hs.pos)
		}
	})

	t.Run("dropped room changes are handed over in order with the messages", func(t *testing.T) {
		c, hs, now, _, handled := newCatchupTest(t, nil)
		hs.addState(room, "m.room.name", "", "$renamed", "@alice:x", *now)
		hs.add(room, "$msg", "@alice:x", *now)
		hs.addState(room, "m.room.member", "@bridge_tg.2:x", "$kicked", "@alice:x", *now)
		hs.addState(room, "m.room.member", "@bridge_tg.2:x", "$ghost-left", "@bridge_tg.2:x", *now)
		hs.add(room, "$pushed", "@alice:x", *now)
		c.in.seen.add([]id.EventID{"$pushed"})
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); !slices.Equal(got, []id.EventID{"$renamed", "$msg", "$kicked"}) {
			t.Fatalf("handled %v, want the rename, the message and the kick, in order, and not the ghost's own leave", got)
		}
		if !slices.Contains(catchupTypes, event.StateRoomName.Type) || !slices.Contains(catchupTypes, event.StateMember.Type) {
			t.Errorf("the sync filter's types %v leave out room changes bridgev2 bridges", catchupTypes)
		}
	})

	t.Run("last event of a quiet room waits for the grace period", func(t *testing.T) {
		c, hs, now, asURL, handled := newCatchupTest(t, nil)
		hs.add(quiet, "$last", "@alice:x", *now)
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); len(got) != 0 {
			t.Fatalf("handled %v within the grace period", got)
		}
		if len(c.waiting) != 1 || c.waiting[0].id != "$last" {
			t.Fatalf("waiting %+v, want $last kept for a later pass", c.waiting)
		}
		// Still unpushed by the next pass, still within the grace: it waits on.
		*now = now.Add(30 * time.Second)
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); len(got) != 0 {
			t.Fatalf("handled %v within the grace period", got)
		}
		*now = now.Add(2 * time.Minute)
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); !slices.Equal(got, []id.EventID{"$last"}) {
			t.Fatalf("handled %v after the grace period, want [$last]", got)
		}
		// Pushed late after all: not handled a second time.
		if code := putTxn(t, asURL, "hs-secret", "late", "$last"); code != http.StatusOK {
			t.Fatalf("late push answered %d", code)
		}
		if got := handled(); len(got) != 1 {
			t.Fatalf("the late push was handled again: %v", got)
		}
	})

	t.Run("waiting event is handed over once a later one is pushed", func(t *testing.T) {
		c, hs, now, _, handled := newCatchupTest(t, nil)
		hs.add(room, "$slow", "@alice:x", *now)
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		pos := c.token
		hs.add(room, "$pushed", "@alice:x", *now)
		c.in.seen.add([]id.EventID{"$pushed"})
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); !slices.Equal(got, []id.EventID{"$slow"}) {
			t.Fatalf("handled %v, want [$slow]", got)
		}
		if c.token == pos {
			t.Error("the position did not move on")
		}
		if hs.messages != 0 {
			t.Errorf("%d /messages reads: the window grew instead of moving on", hs.messages)
		}
	})

	t.Run("limited timeline is read back to the position, in order", func(t *testing.T) {
		c, hs, now, _, handled := newCatchupTest(t, nil)
		var want []id.EventID
		for i := 0; i < 8; i++ {
			evtID := fmt.Sprintf("$m%d", i)
			hs.add(room, evtID, "@alice:x", now.Add(-5*time.Minute))
			want = append(want, id.EventID(evtID))
		}
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if hs.messages == 0 {
			t.Error("the limited timeline was not read through /messages")
		}
		if got := handled(); !slices.Equal(got, want) {
			t.Fatalf("handled %v, want %v", got, want)
		}
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); len(got) != len(want) {
			t.Fatalf("a second sweep handed events over again: %v", got)
		}
	})

	t.Run("transient failure is handed over again, the rest is not", func(t *testing.T) {
		c, hs, now, _, handled := newCatchupTest(t, map[id.EventID]bool{"$b": true})
		for _, e := range []string{"$a", "$b", "$c"} {
			hs.add(room, e, "@alice:x", now.Add(-5*time.Minute))
		}
		if err := c.Sweep(ctx); err == nil {
			t.Fatal("the sweep reported no error although an event failed")
		}
		if err := c.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if got := handled(); !slices.Equal(got, []id.EventID{"$a", "$c", "$b"}) {
			t.Fatalf("handled %v, want $a and $c once, then $b on the next sweep", got)
		}
	})
}

func TestCatchupSettings(t *testing.T) {
	for _, c := range []struct {
		interval, grace string
		want            time.Duration
		wantErr         string
	}{
		{"", "", DefaultCatchupInterval, ""},
		{"10s", "1m", 10 * time.Second, ""},
		{"off", "", 0, ""},
		{"10ms", "", 0, CatchupIntervalEnv},
		{"soon", "", 0, CatchupIntervalEnv},
		{"", "-1s", 0, CatchupGraceEnv},
	} {
		t.Setenv(CatchupIntervalEnv, c.interval)
		t.Setenv(CatchupGraceEnv, c.grace)
		got, _, err := CatchupSettings()
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%q/%q: error %v, want one naming %s", c.interval, c.grace, err, c.wantErr)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%q/%q: got %v, %v; want %v", c.interval, c.grace, got, err, c.want)
		}
	}
}
