package whatsapp

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"testing"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/whatsapp/msgconv"
)

func TestPolls(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		pollID := f.bobSends(f.bob.Client.BuildPollCreation("Lunch?", []string{"Pizza", "Sushi"}, 1))
		start, next := f.mx.waitEvent(t, 0, "Bob's poll", func(e sentEvent) bool { return e.Type.Type == msgconv.PollStartType })
		var poll struct {
			Start struct {
				MaxSelections int `json:"max_selections"`
				Answers       []struct {
					ID   string `json:"id"`
					Text string `json:"org.matrix.msc1767.text"`
				} `json:"answers"`
			} `json:"org.matrix.msc3381.poll.start"`
		}
		if err := json.Unmarshal(start.Content.VeryRaw, &poll); err != nil {
			t.Fatal(err)
		}
		if poll.Start.MaxSelections != 1 || len(poll.Start.Answers) != 2 || poll.Start.Answers[1].Text != "Sushi" {
			t.Fatalf("poll start = %s", start.Content.VeryRaw)
		}

		// Bob votes Sushi on his phone.
		info := &types.MessageInfo{MessageSource: types.MessageSource{Chat: f.alice, Sender: f.bobJID, IsFromMe: true}, ID: pollID}
		vote, err := f.bob.Client.BuildPollVote(f.ctx, info, []string{"Sushi"})
		if err != nil {
			t.Fatal(err)
		}
		f.bobSends(vote)
		resp, _ := f.mx.waitEvent(t, next, "Bob's vote", func(e sentEvent) bool { return e.Type.Type == msgconv.PollResponseType })
		var answer struct {
			Response struct {
				Answers []string `json:"answers"`
			} `json:"org.matrix.msc3381.poll.response"`
			RelatesTo event.RelatesTo `json:"m.relates_to"`
		}
		if err = json.Unmarshal(resp.Content.VeryRaw, &answer); err != nil {
			t.Fatal(err)
		}
		if len(answer.Response.Answers) != 1 || answer.Response.Answers[0] != poll.Start.Answers[1].ID || answer.RelatesTo.EventID != start.EventID {
			t.Errorf("Bob's vote = %s", resp.Content.VeryRaw)
		}

		// Alice votes Pizza from Matrix.
		room := f.portalRoom(f.login, f.bobJID)
		from := len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventUnstablePollResponse, map[string]any{
			msgconv.PollResponseType: map[string]any{"answers": []string{poll.Start.Answers[0].ID}},
			"m.relates_to":           map[string]any{"rel_type": "m.reference", "event_id": start.EventID},
		})
		got := f.bobReceives(from, "Alice's vote", func(m *events.Message) bool { return m.Message.GetPollUpdateMessage() != nil })
		decrypted, err := f.bob.Client.DecryptPollVote(f.ctx, got)
		if err != nil {
			t.Fatalf("Bob cannot decrypt Alice's vote: %v", err)
		}
		pizza := sha256.Sum256([]byte("Pizza"))
		if sel := decrypted.GetSelectedOptions(); len(sel) != 1 || !bytes.Equal(sel[0], pizza[:]) {
			t.Errorf("Alice's vote selects %x, want Pizza", sel)
		}

		// Alice starts a poll from Matrix.
		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventUnstablePollStart, map[string]any{
			msgconv.PollStartType: map[string]any{
				"kind": "org.matrix.msc3381.poll.disclosed", "max_selections": 2,
				"question": map[string]any{"org.matrix.msc1767.text": "Where?"},
				"answers": []map[string]any{
					{"id": "a", "org.matrix.msc1767.text": "Paris"},
					{"id": "b", "org.matrix.msc1767.text": "Lyon"},
				},
			},
		})
		created := f.bobReceives(from, "Alice's poll", func(m *events.Message) bool {
			return m.Message.GetPollCreationMessage() != nil || m.Message.GetPollCreationMessageV3() != nil
		})
		pc := created.Message.GetPollCreationMessage()
		if pc == nil {
			pc = created.Message.GetPollCreationMessageV3()
		}
		if pc.GetName() != "Where?" || len(pc.GetOptions()) != 2 || pc.GetOptions()[1].GetOptionName() != "Lyon" {
			t.Errorf("Alice's poll = %v", pc)
		}
	})
}
