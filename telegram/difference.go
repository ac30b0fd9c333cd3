package telegram

import (
	"context"
	"fmt"
	"sort"

	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/tg"
)

// orderedDifferences is the API the updates manager fetches differences through. gotd applies a
// difference's other_updates (edits, deletions, reads) before its new_messages and checks their
// pts against the state from before the new messages, so an edit or deletion whose pts follows
// a missed message looks like a gap and is dropped: an edit of an old message made after a new
// one, while the bridge was down, never reached Matrix. Here the difference is handed to the
// bridge itself, new messages first (Telegram sends them as they are now, edits included), then
// the other pts updates in pts order, and gotd gets the difference emptied of them, keeping its
// state, users, chats and the updates it acts on itself (channelTooLong and the like).
//
// If the bridge cannot take an update, the fetch fails: gotd stores no new state and the
// connection restarts (see Client.handleUpdates), so the difference is fetched again.
type orderedDifferences struct {
	updates.API
	handle func(ctx context.Context, u tg.UpdatesClass) error
}

func (o orderedDifferences) UpdatesGetDifference(ctx context.Context, req *tg.UpdatesGetDifferenceRequest) (tg.UpdatesDifferenceClass, error) {
	diff, err := o.API.UpdatesGetDifference(ctx, req)
	if err != nil {
		return diff, err
	}
	var ours *tg.Updates
	switch d := diff.(type) {
	case *tg.UpdatesDifference:
		ours, d.NewMessages, d.OtherUpdates = splitDifference(d.NewMessages, d.OtherUpdates, d.Users, d.Chats, false)
	case *tg.UpdatesDifferenceSlice:
		ours, d.NewMessages, d.OtherUpdates = splitDifference(d.NewMessages, d.OtherUpdates, d.Users, d.Chats, false)
	}
	if err := o.deliver(ctx, ours); err != nil {
		return nil, err
	}
	return diff, nil
}

func (o orderedDifferences) UpdatesGetChannelDifference(ctx context.Context, req *tg.UpdatesGetChannelDifferenceRequest) (tg.UpdatesChannelDifferenceClass, error) {
	diff, err := o.API.UpdatesGetChannelDifference(ctx, req)
	if err != nil {
		return diff, err
	}
	if d, ok := diff.(*tg.UpdatesChannelDifference); ok {
		var ours *tg.Updates
		ours, d.NewMessages, d.OtherUpdates = splitDifference(d.NewMessages, d.OtherUpdates, d.Users, d.Chats, true)
		if err := o.deliver(ctx, ours); err != nil {
			return nil, err
		}
	}
	return diff, nil
}

func (o orderedDifferences) deliver(ctx context.Context, u *tg.Updates) error {
	if u == nil || len(u.Updates) == 0 {
		return nil
	}
	if err := o.handle(ctx, u); err != nil {
		return fmt.Errorf("hand the difference to the bridge: %w", err)
	}
	return nil
}

// splitDifference separates what the bridge handles itself, in order (the new messages as
// updateNewMessage / updateNewChannelMessage in message ID order, then the pts updates sorted by
// pts), from the updates left to gotd (those without pts). The new-message and other lists
// returned for gotd are empty, never nil: nil TL vectors do not encode.
func splitDifference(msgs []tg.MessageClass, others []tg.UpdateClass, users []tg.UserClass, chats []tg.ChatClass, channel bool) (ours *tg.Updates, leftMsgs []tg.MessageClass, left []tg.UpdateClass) {
	ours = &tg.Updates{Users: users, Chats: chats}
	sorted := append([]tg.MessageClass(nil), msgs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].GetID() < sorted[j].GetID() })
	for _, m := range sorted {
		if channel {
			ours.Updates = append(ours.Updates, &tg.UpdateNewChannelMessage{Message: m})
		} else {
			ours.Updates = append(ours.Updates, &tg.UpdateNewMessage{Message: m})
		}
	}
	var withPts []tg.UpdateClass
	left = []tg.UpdateClass{}
	for _, u := range others {
		// updateChannelTooLong carries a channel pts but is gotd's cue to fetch that channel.
		if _, tooLong := u.(*tg.UpdateChannelTooLong); !tooLong {
			if _, _, ok := ptsOf(u); ok {
				withPts = append(withPts, u)
				continue
			}
		}
		left = append(left, u)
	}
	sort.SliceStable(withPts, func(i, j int) bool {
		pi, ci, _ := ptsOf(withPts[i])
		pj, cj, _ := ptsOf(withPts[j])
		return pi-ci < pj-cj
	})
	ours.Updates = append(ours.Updates, withPts...)
	return ours, []tg.MessageClass{}, left
}

// ptsOf reads the pts and pts_count of a common-box or channel update.
func ptsOf(u tg.UpdateClass) (pts, count int, ok bool) {
	if pts, count, ok := tg.IsPtsUpdate(u); ok {
		return pts, count, true
	}
	if _, pts, count, ok, _ := tg.IsChannelPtsUpdate(u); ok {
		return pts, count, true
	}
	return 0, 0, false
}
