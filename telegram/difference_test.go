package telegram

import (
	"fmt"
	"testing"

	"github.com/gotd/td/tg"
)

func TestSplitDifference(t *testing.T) {
	msg := func(id int) tg.MessageClass { return &tg.Message{ID: id, PeerID: &tg.PeerUser{UserID: 1}} }
	describe := func(us []tg.UpdateClass) []string {
		var out []string
		for _, u := range us {
			switch u := u.(type) {
			case *tg.UpdateNewMessage:
				out = append(out, fmt.Sprintf("new %d", u.Message.GetID()))
			case *tg.UpdateNewChannelMessage:
				out = append(out, fmt.Sprintf("channel new %d", u.Message.GetID()))
			case *tg.UpdateEditMessage:
				out = append(out, fmt.Sprintf("edit %d@%d", u.Message.GetID(), u.Pts))
			case *tg.UpdateEditChannelMessage:
				out = append(out, fmt.Sprintf("channel edit %d@%d", u.Message.GetID(), u.Pts))
			case *tg.UpdateDeleteMessages:
				out = append(out, fmt.Sprintf("delete %v@%d", u.Messages, u.Pts))
			case *tg.UpdateDeleteChannelMessages:
				out = append(out, fmt.Sprintf("channel delete %v@%d", u.Messages, u.Pts))
			default:
				out = append(out, fmt.Sprintf("%T", u))
			}
		}
		return out
	}
	tests := []struct {
		name        string
		msgs        []tg.MessageClass
		others      []tg.UpdateClass
		channel     bool
		wantOurs    []string
		wantForGotd []string
	}{
		{"empty", nil, nil, false, nil, nil},
		{
			// pts 11: new 5; 12: edit of 3; 13-14: delete 2 and 4; 15: new 6; 16: edit of 6.
			"new messages first, then the rest by pts; channelTooLong stays with gotd",
			[]tg.MessageClass{msg(6), msg(5)},
			[]tg.UpdateClass{
				&tg.UpdateEditMessage{Message: msg(6), Pts: 16, PtsCount: 1},
				&tg.UpdateChannelTooLong{ChannelID: 9},
				&tg.UpdateDeleteMessages{Messages: []int{2, 4}, Pts: 14, PtsCount: 2},
				&tg.UpdateEditMessage{Message: msg(3), Pts: 12, PtsCount: 1},
			},
			false,
			[]string{"new 5", "new 6", "edit 3@12", "delete [2 4]@14", "edit 6@16"},
			[]string{"*tg.UpdateChannelTooLong"},
		},
		{
			"channel difference",
			[]tg.MessageClass{msg(8)},
			[]tg.UpdateClass{
				&tg.UpdateDeleteChannelMessages{ChannelID: 9, Messages: []int{7}, Pts: 30, PtsCount: 1},
				&tg.UpdateEditChannelMessage{Message: msg(2), Pts: 29, PtsCount: 1},
			},
			true,
			[]string{"channel new 8", "channel edit 2@29", "channel delete [7]@30"},
			nil,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ours, leftMsgs, left := splitDifference(tc.msgs, tc.others, nil, nil, tc.channel)
			if got := describe(ours.Updates); fmt.Sprint(got) != fmt.Sprint(tc.wantOurs) {
				t.Errorf("bridge gets %q, want %q", got, tc.wantOurs)
			}
			if got := describe(left); fmt.Sprint(got) != fmt.Sprint(tc.wantForGotd) {
				t.Errorf("gotd keeps %q, want %q", got, tc.wantForGotd)
			}
			if leftMsgs == nil || len(leftMsgs) != 0 || left == nil {
				t.Errorf("lists left to gotd must be empty, not nil: %v %v", leftMsgs, left)
			}
		})
	}
}
