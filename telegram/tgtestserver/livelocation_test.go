package tgtestserver

import (
	"testing"

	"github.com/gotd/td/tg"
)

// A live location moves by edits of its message and ends with a stop, after which date+period
// has passed; a client can stop its own live location with editMessage.
func TestLiveLocation(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000003"), FirstName: "Alice"})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000004"), FirstName: "Bob"})
	dm := UserPeer(alice.actor.ID())
	sent, err := bob.actor.Send(dm, Message{Text: "", Location: &Location{Lat: 48.85, Long: 2.35, LivePeriod: 900}})
	if err != nil {
		t.Fatal(err)
	}
	id := sent.IDFor(alice.actor.ID())
	liveAt := func(what string, edit bool, match func(*tg.Message, *tg.MessageMediaGeoLive) bool) {
		t.Helper()
		alice.rec.wait(t, what, func(u tg.UpdateClass) bool {
			_, isEdit := u.(*tg.UpdateEditMessage)
			m := newMessageOf(u)
			if m == nil || m.ID != id || isEdit != edit {
				return false
			}
			l, ok := m.Media.(*tg.MessageMediaGeoLive)
			return ok && match(m, l)
		})
	}
	liveAt("the live location", false, func(m *tg.Message, l *tg.MessageMediaGeoLive) bool {
		g, ok := l.Geo.(*tg.GeoPoint)
		return ok && g.Lat == 48.85 && l.Period == 900
	})
	if err := bob.actor.UpdateLiveLocation(dm, sent.ID, 48.86, 2.36); err != nil {
		t.Fatal(err)
	}
	liveAt("the moved live location", true, func(m *tg.Message, l *tg.MessageMediaGeoLive) bool {
		g, ok := l.Geo.(*tg.GeoPoint)
		return ok && g.Lat == 48.86 && g.Long == 2.36 && l.Period == 900
	})
	if err := bob.actor.StopLiveLocation(dm, sent.ID); err != nil {
		t.Fatal(err)
	}
	liveAt("the stopped live location", true, func(m *tg.Message, l *tg.MessageMediaGeoLive) bool {
		g, ok := l.Geo.(*tg.GeoPoint)
		return ok && g.Lat == 48.86 && m.Date+l.Period <= m.EditDate
	})
	if err := bob.actor.UpdateLiveLocation(dm, sent.ID, 1, 1); err == nil {
		t.Fatal("a stopped live location moved again")
	}

	// Alice shares hers from her app and stops it there.
	res, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
		Peer: inputUserPeer(srv, alice.actor.ID(), bob.actor.ID()), RandomID: 7,
		Media: &tg.InputMediaGeoLive{GeoPoint: &tg.InputGeoPoint{Lat: 1, Long: 2}, Period: 60},
	})
	if err != nil {
		t.Fatal(err)
	}
	var mine int
	for _, u := range res.(*tg.Updates).Updates {
		if m := newMessageOf(u); m != nil {
			mine = m.ID
		}
	}
	if _, err := alice.client.api.MessagesEditMessage(ctx, &tg.MessagesEditMessageRequest{
		Peer: inputUserPeer(srv, alice.actor.ID(), bob.actor.ID()), ID: mine,
		Media: &tg.InputMediaGeoLive{GeoPoint: &tg.InputGeoPointEmpty{}, Stopped: true},
	}); err != nil {
		t.Fatalf("stop own live location: %v", err)
	}
	h := srv.History(bob.actor.ID(), UserPeer(alice.actor.ID()))
	last := h[len(h)-1]
	l, ok := last.MediaObject.(*tg.MessageMediaGeoLive)
	if last.Media != "geolive" || !ok || last.Date+l.Period > last.EditDate {
		t.Fatalf("Bob's copy of the stopped location: %+v", last)
	}
}
