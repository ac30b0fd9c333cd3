package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// The baseline gotd client gets what a scripted account sends it, and what it sends reaches a
// scripted account's responder: both Telegram baselines measure real deliveries.
func TestGotdBaselineDelivers(t *testing.T) {
	srv := startTestServer(t, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel))
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: phoneGotd, FirstName: "Baseline"})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := srv.CreateUser(tgtestserver.UserSpec{Phone: phonePeer, FirstName: "Peer"})
	if err != nil {
		t.Fatal(err)
	}
	arr := newArrivals()
	srv.SetResponder(peer.ID(), func(_ *tgtestserver.Actor, in tgtestserver.Incoming) { arr.seen(sourcePeer, in.Text, time.Now()) })
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	g, err := startGotd(ctx, srv, phoneGotd, arr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer g.close()

	for _, tc := range []struct {
		name, source string
		send         func(ctx context.Context, text string) error
	}{
		{"to-gotd", sourceGotd, func(_ context.Context, text string) error {
			_, err := peer.SendText(tgtestserver.UserPeer(me.ID()), text)
			return err
		}},
		{"from-gotd", sourcePeer, func(ctx context.Context, text string) error {
			return g.sendText(ctx, &tg.InputPeerUser{UserID: peer.ID(), AccessHash: srv.AccessHash(me.ID(), peer.ID())}, text)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := measure(ctx, arr, tc.name, tc.source, 5, tc.send)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Latencies) != 5 || s.BurstN != 5 || s.Throughput() <= 0 {
				t.Fatalf("sample = %+v", s)
			}
		})
	}
}

// BenchmarkGotdSend measures one messages.sendMessage against the test server, answered, with
// the flood-wait middlewares gotd's contrib offers: none (the baseline), floodwait.Waiter as the
// Telegram connector configures it (ticker of 10 ms; the waiter queues each request and a single
// goroutine sends what it gathered at each tick, one request after the other), and
// floodwait.SimpleWaiter (retries inline in the caller's goroutine). "parallel" sends from
// several goroutines at once, as several portals of one account do.
//
//	go test -tags goolm -run '^$' -bench GotdSend ./bench/
func BenchmarkGotdSend(b *testing.B) {
	srv := startTestServer(b, zerolog.Nop())
	peer, err := srv.CreateUser(tgtestserver.UserSpec{Phone: phonePeer, FirstName: "Peer"})
	if err != nil {
		b.Fatal(err)
	}
	for i, tc := range []struct {
		name string
		wrap func() *gotdWrap
	}{
		{"plain", func() *gotdWrap { return nil }},
		{"waiter-tick-10ms", func() *gotdWrap {
			w := floodwait.NewWaiter().WithMaxRetries(10).WithTick(10 * time.Millisecond)
			return &gotdWrap{middlewares: []telegram.Middleware{w}, run: w.Run}
		}},
		{"simple-waiter", func() *gotdWrap {
			return &gotdWrap{middlewares: []telegram.Middleware{floodwait.NewSimpleWaiter().WithMaxRetries(10)}}
		}},
	} {
		phone := fmt.Sprintf("+3370000010%d", i)
		me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: phone, FirstName: tc.name})
		if err != nil {
			b.Fatal(err)
		}
		g, err := startGotd(context.Background(), srv, phone, newArrivals(), tc.wrap())
		if err != nil {
			b.Fatal(err)
		}
		to := &tg.InputPeerUser{UserID: peer.ID(), AccessHash: srv.AccessHash(me.ID(), peer.ID())}
		b.Run(tc.name+"/sequential", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if err := g.sendText(context.Background(), to, "bench"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(tc.name+"/parallel", func(b *testing.B) {
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := g.sendText(context.Background(), to, "bench"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		g.close()
	}
}

// startTestServer starts a Telegram test server for one test, closed at its end.
func startTestServer(tb testing.TB, log zerolog.Logger) *tgtestserver.Server {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	if err = srv.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = srv.Close() })
	return srv
}
