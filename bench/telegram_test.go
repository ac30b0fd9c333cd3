package bench

import (
	"context"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/rs/zerolog"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// The baseline gotd client gets what a scripted account sends it, and what it sends reaches a
// scripted account's responder: both Telegram baselines measure real deliveries.
func TestGotdBaselineDelivers(t *testing.T) {
	srv, err := tgtestserver.New(tgtestserver.Options{Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel)})
	if err != nil {
		t.Fatal(err)
	}
	if err = srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
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
	g, err := startGotd(ctx, srv, phoneGotd, arr)
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
