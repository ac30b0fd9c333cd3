package tgtestserver

import (
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// liveGeo is a live location: a point the sender keeps moving for period seconds after the
// message date, or until stopped (then period is cut to the time it ran, so date+period has
// passed, which is how clients see a live location has ended).
type liveGeo struct {
	geo       geoPoint
	period    int
	heading   int
	proximity int
}

func (l *liveGeo) render() *tg.MessageMediaGeoLive {
	out := &tg.MessageMediaGeoLive{Geo: l.geo.tg(), Period: l.period}
	if l.heading > 0 {
		out.SetHeading(l.heading)
	}
	if l.proximity > 0 {
		out.SetProximityNotificationRadius(l.proximity)
	}
	return out
}

// inputLive reads inputMediaGeoLive; a stopped one may come without coordinates.
func inputLive(m *tg.InputMediaGeoLive) (*media, error) {
	l := &liveGeo{heading: m.Heading, proximity: m.ProximityNotificationRadius}
	l.period, _ = m.GetPeriod()
	if _, empty := m.GeoPoint.(*tg.InputGeoPointEmpty); !(empty && m.Stopped) {
		g, err := inputGeo(m.GeoPoint)
		if err != nil {
			return nil, err
		}
		l.geo = g
	}
	if m.Stopped {
		l.period = -1 // resolved against the edited message in mergeLive
	}
	return &media{live: l}, nil
}

// mergeLive applies an edit of a live location to message m: a new point keeps the period, a
// stop ends it now. Editing a live location that already ended fails as on Telegram.
func (t *tx) mergeLive(m *message, next *liveGeo) (*media, error) {
	cur := m.media
	if cur == nil || cur.live == nil {
		return nil, errMediaInvalid
	}
	if cur.live.period != 0x7FFFFFFF && m.date+cur.live.period <= t.now {
		return nil, tgerr.New(400, "MESSAGE_EDIT_TIME_EXPIRED")
	}
	out := *cur.live
	if next.period == -1 {
		out.period = max(t.now-m.date, 0)
		if next.geo != (geoPoint{}) {
			out.geo = next.geo
		}
		return &media{live: &out}, nil
	}
	out.geo = next.geo
	if next.heading > 0 {
		out.heading = next.heading
	}
	if next.period > out.period {
		out.period = next.period
	}
	return &media{live: &out}, nil
}

// UpdateLiveLocation moves the actor's live location id to a new point (an edit of the
// message, as Telegram apps send every few seconds).
func (a *Actor) UpdateLiveLocation(p Peer, id int, lat, long float64) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.edit(me, p.key(), id, nil, nil, &media{live: &liveGeo{geo: geoPoint{lat: lat, long: long}}}, 0)
		return err
	})
	return describe("update live location", err)
}

// StopLiveLocation ends the actor's live location id.
func (a *Actor) StopLiveLocation(p Peer, id int) error {
	err := a.with(func(t *tx, me *account) error {
		_, err := t.edit(me, p.key(), id, nil, nil, &media{live: &liveGeo{period: -1}}, 0)
		return err
	})
	return describe("stop live location", err)
}
