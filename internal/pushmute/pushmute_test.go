package pushmute

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/id"
	"maunium.net/go/mautrix/sqlstatestore"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/internal/statecache"
	"github.com/passerelle-bridge/passerelle/metrics"
)

// homeserver starts Dendrite with an appservice whose transactions are answered at once, and
// returns the appservice's registration.
func homeserver(t *testing.T) (*hstest.Homeserver, *appservice.Registration) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte("{}"))
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	reg := appservice.CreateRegistration()
	reg.ID = "pushmute-test"
	reg.URL = "http://" + ln.Addr().String()
	reg.SenderLocalpart = "pushmutebot"
	reg.Namespaces.UserIDs.Register(regexp.MustCompile("@pm_.*:localhost"), true)
	path := filepath.Join(t.TempDir(), "registration.yaml")
	if err = reg.Save(path); err != nil {
		t.Fatal(err)
	}
	return hstest.New(t, hstest.Options{AppServices: []string{path}}), reg
}

// masterEnabled reads the master push rule switch of cli's user, as that user.
func masterEnabled(ctx context.Context, t *testing.T, cli *mautrix.Client) bool {
	t.Helper()
	var resp struct {
		Enabled bool `json:"enabled"`
	}
	url := cli.BuildClientURL("v3", "pushrules", "global", "override", ".m.rule.master", "enabled")
	if _, err := cli.MakeRequest(ctx, http.MethodGet, url, nil, &resp); err != nil {
		t.Fatalf("read the master push rule of %s: %v", cli.UserID, err)
	}
	return resp.Enabled
}

func notifications(ctx context.Context, t *testing.T, cli *mautrix.Client) int {
	t.Helper()
	var resp struct {
		Notifications []any `json:"notifications"`
	}
	if _, err := cli.MakeRequest(ctx, http.MethodGet, cli.BuildClientURL("v3", "notifications"), nil, &resp); err != nil {
		t.Fatalf("notifications of %s: %v", cli.UserID, err)
	}
	return len(resp.Notifications)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMuter(t *testing.T) {
	hs, reg := homeserver(t)
	alice := hs.NewUser(t, "alice")
	bob := hs.NewUser(t, "bob")
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		as, err := appservice.CreateFull(appservice.CreateOpts{Registration: reg, HomeserverDomain: hs.ServerName, HomeserverURL: hs.URL})
		if err != nil {
			t.Fatal(err)
		}
		sql := sqlstatestore.NewSQLStateStore(db, dbutil.NoopLogger, false)
		if err = sql.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		as.StateStore = sql
		suffix := db.Dialect.String()
		// Registered before the muter existed: found in the registration table at start.
		old := as.Intent(id.NewUserID("pm_old_"+suffix, hs.ServerName))
		if err = old.EnsureRegistered(ctx); err != nil {
			t.Fatal(err)
		}
		// A real user in the registration table (never in practice; the namespace check is
		// what keeps double puppets untouched) must not be muted.
		if err = sql.MarkRegistered(ctx, bob.UserID); err != nil {
			t.Fatal(err)
		}

		ghosts := regexp.MustCompile("^@pm_.*:localhost$")
		owned := func(u id.UserID) bool { return u == as.BotMXID() || ghosts.MatchString(string(u)) }
		m := New(as, db, owned, zerolog.New(zerolog.NewTestWriter(t)))
		as.StateStore = &Store{Store: statecache.New(sql), muter: m}
		runCtx, stop := context.WithCancel(ctx)
		ran := make(chan struct{})
		go func() { m.Run(runCtx); close(ran) }()
		defer func() { stop(); <-ran }()

		// Registered while it runs: queued by MarkRegistered.
		if err = as.BotIntent().EnsureRegistered(ctx); err != nil {
			t.Fatal(err)
		}
		ghost := as.Intent(id.NewUserID("pm_new_"+suffix, hs.ServerName))
		if err = ghost.EnsureRegistered(ctx); err != nil {
			t.Fatal(err)
		}
		for _, u := range []id.UserID{old.UserID, as.BotMXID(), ghost.UserID} {
			waitFor(t, "the master push rule of "+u.String(), 30*time.Second, func() bool { return masterEnabled(ctx, t, as.Intent(u).Client) })
		}
		if masterEnabled(ctx, t, bob) {
			t.Fatalf("%s is no bridge user but was muted", bob.UserID)
		}
		// Each database records the three it muted itself (the row follows the homeserver's
		// answer, so it may lag the rule by a moment).
		var rows int
		waitFor(t, "three rows in passerelle_push_muted", 30*time.Second, func() bool {
			if err := db.QueryRow(ctx, "SELECT COUNT(*) FROM passerelle_push_muted").Scan(&rows); err != nil {
				t.Fatal(err)
			}
			return rows == 3
		})

		// The point of it: a message in a room stores a notification for a member who was not
		// muted (bob) and none for the ghost.
		room, err := alice.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "private_chat", Invite: []id.UserID{bob.UserID, ghost.UserID}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err = bob.JoinRoomByID(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		if err = ghost.EnsureJoined(ctx, room.RoomID); err != nil {
			t.Fatal(err)
		}
		bobBefore := notifications(ctx, t, bob)
		for i := 0; i < 3; i++ {
			if _, err = alice.SendText(ctx, room.RoomID, "hello"); err != nil {
				t.Fatal(err)
			}
		}
		waitFor(t, "bob's notifications", 30*time.Second, func() bool { return notifications(ctx, t, bob) >= bobBefore+3 })
		if n := notifications(ctx, t, ghost.Client); n != 0 {
			t.Fatalf("the muted ghost has %d notifications, want 0", n)
		}

		// A homeserver that is away: the user is muted once it is back.
		late := as.Intent(id.NewUserID("pm_late_"+suffix, hs.ServerName))
		if err = late.EnsureRegistered(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the late ghost's first mute", 30*time.Second, func() bool { return m.Pending() == 0 })
		if _, err = m.db.Exec(ctx, "DELETE FROM passerelle_push_muted WHERE user_id=$1", late.UserID); err != nil {
			t.Fatal(err)
		}
		if err = hs.Stop(); err != nil {
			t.Fatal(err)
		}
		// Unmute by hand is impossible while it is down; enqueue as a restart would.
		m.Enqueue(late.UserID)
		time.Sleep(1500 * time.Millisecond)
		if m.Pending() != 1 || pendingGauge(t) != 1 {
			t.Fatalf("pending = %d (gauge %v) while the homeserver is down, want 1 (kept for a retry)", m.Pending(), pendingGauge(t))
		}
		if err = hs.Start(ctx); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the late ghost's mute after the restart", 60*time.Second, func() bool { return m.Pending() == 0 })
		var muted bool
		if err = db.QueryRow(ctx, "SELECT EXISTS(SELECT 1 FROM passerelle_push_muted WHERE user_id=$1)", late.UserID).Scan(&muted); err != nil {
			t.Fatal(err)
		}
		if !muted {
			t.Fatal("the late ghost was dropped from the queue without being recorded as muted")
		}
	})
}

// TestNewGhostsGoFirst: a ghost registered while the start-up backlog is being muted is muted
// before the rest of the backlog.
func TestNewGhostsGoFirst(t *testing.T) {
	m := &Muter{owned: func(u id.UserID) bool { return u != "@alice:localhost" }, queued: map[id.UserID]bool{}, wake: make(chan struct{}, 1)}
	m.enqueue("@pm_old1:localhost", true)
	m.enqueue("@pm_old2:localhost", true)
	first, _ := m.next()
	m.Enqueue("@pm_new:localhost")
	m.Enqueue("@alice:localhost")          // not the bridge's: ignored
	m.enqueue("@pm_old2:localhost", false) // queued already
	m.done(first)
	var order []id.UserID
	for u, ok := m.next(); ok; u, ok = m.next() {
		order = append(order, u)
		m.done(u)
	}
	want := []id.UserID{"@pm_new:localhost", "@pm_old2:localhost"}
	if first != "@pm_old1:localhost" || !slices.Equal(order, want) {
		t.Fatalf("muted %s, then %v; want @pm_old1, then %v", first, order, want)
	}
}

// pendingGauge reads passerelle_queue_depth{network="matrix",queue="push_mute"}.
func pendingGauge(t *testing.T) float64 {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "passerelle_queue_depth" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["network"] == "matrix" && labels["queue"] == "push_mute" {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}
