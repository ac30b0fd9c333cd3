package whatsapp

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waCommon"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/devicestore"
)

// TestOnePersonOneGhost: whichever address WhatsApp uses for a person (phone number, LID with the
// phone number alongside, or a LID known from the LID map), messages, reactions and receipts use
// one canonical JID, so one ghost and one message ID.
func TestOnePersonOneGhost(t *testing.T) {
	dbtest.ForEach(t, func(t *testing.T, db *dbutil.Database) {
		ctx := context.Background()
		container := devicestore.New(db, zerologNop())
		if err := container.Upgrade(ctx); err != nil {
			t.Fatal(err)
		}
		own := types.NewJID("33600000001", types.DefaultUserServer)
		ownDev := own
		ownDev.Device = 3
		bobPN := types.NewJID("33600000002", types.DefaultUserServer)
		bobLID := types.NewJID("111222333", types.HiddenUserServer)
		strangerLID := types.NewJID("999888777", types.HiddenUserServer)
		if err := container.LIDs().PutLIDMapping(ctx, bobLID, bobPN); err != nil {
			t.Fatal(err)
		}
		device := container.NewDevice()
		device.ID = &ownDev
		device.LIDs = container.LIDs()
		c := &Client{Main: NewConnector(), Device: device, WA: whatsmeow.NewClient(device, nil),
			UserLogin: &bridgev2.UserLogin{UserLogin: &database.UserLogin{ID: portal.WALoginID(own)}}}
		withDevice := func(j types.JID, d uint16) types.JID { j.Device = d; return j }
		group := types.NewJID("120363000000000002", types.GroupServer)

		senders := []struct {
			name string
			src  types.MessageSource
			want types.JID
		}{
			{"phone number", types.MessageSource{Chat: bobPN, Sender: withDevice(bobPN, 2)}, bobPN},
			{"LID with phone alongside", types.MessageSource{Chat: bobLID, Sender: bobLID, SenderAlt: bobPN}, bobPN},
			{"LID from the map", types.MessageSource{Chat: group, Sender: withDevice(bobLID, 5), IsGroup: true}, bobPN},
			{"unknown LID stays LID", types.MessageSource{Chat: group, Sender: strangerLID, IsGroup: true}, strangerLID},
			{"own message", types.MessageSource{Chat: bobPN, Sender: withDevice(own, 4), IsFromMe: true}, own},
		}
		for _, tt := range senders {
			if got := c.senderOf(ctx, &tt.src); got != tt.want {
				t.Errorf("senderOf(%s) = %s, want %s", tt.name, got, tt.want)
			}
		}
		if got := portal.WAUserID(c.senderOf(ctx, &senders[1].src)); got != portal.WAUserID(bobPN) {
			t.Errorf("LID sender ghost = %s, want the phone-number ghost", got)
		}

		chats := []struct {
			name string
			src  types.MessageSource
			want types.JID
		}{
			{"DM by phone", types.MessageSource{Chat: bobPN, Sender: bobPN}, bobPN},
			{"DM by LID, sender alt", types.MessageSource{Chat: bobLID, Sender: bobLID, SenderAlt: bobPN}, bobPN},
			{"own DM by LID, recipient alt", types.MessageSource{Chat: bobLID, Sender: own, IsFromMe: true, RecipientAlt: bobPN}, bobPN},
			{"DM by LID from the map", types.MessageSource{Chat: bobLID, Sender: bobLID}, bobPN},
			{"group", types.MessageSource{Chat: group, Sender: bobPN, IsGroup: true}, group},
		}
		for _, tt := range chats {
			if got := c.chatOf(ctx, &tt.src); got != tt.want {
				t.Errorf("chatOf(%s) = %s, want %s", tt.name, got, tt.want)
			}
		}

		keys := []struct {
			name        string
			chat, actor types.JID
			key         *waCommon.MessageKey
			want        types.JID
		}{
			{"Bob reacts to his own DM message", bobPN, bobPN, &waCommon.MessageKey{FromMe: proto.Bool(true)}, bobPN},
			{"Bob reacts to ours", bobPN, bobPN, &waCommon.MessageKey{FromMe: proto.Bool(false)}, own},
			{"we react to Bob's", bobPN, own, &waCommon.MessageKey{FromMe: proto.Bool(false)}, bobPN},
			{"group key with LID participant", group, own, &waCommon.MessageKey{Participant: proto.String(bobLID.String())}, bobPN},
		}
		for _, tt := range keys {
			if got := c.keyTarget(ctx, tt.chat, tt.actor, tt.key); got != tt.want {
				t.Errorf("keyTarget(%s) = %s, want %s", tt.name, got, tt.want)
			}
		}
	})
}

func zerologNop() zerolog.Logger { return zerolog.Nop() }
