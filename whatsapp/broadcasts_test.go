package whatsapp

import (
	"errors"
	"strings"
	"testing"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestStatusAndChannels: with the switches off (the default), Bob's status and a channel post
// reach the bridge's WhatsApp device but no room and no Matrix event; with them on, the status is
// in the "WhatsApp Status" room posted by Bob's ghost, the post in a read-only room named after the
// channel posted by the bot, and Matrix messages in either room are refused.
func TestStatusAndChannels(t *testing.T) {
	for _, on := range []bool{false, true} {
		name := "off"
		if on {
			name = "on"
		}
		t.Run(name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, db *dbutil.Database) {
				f := newDM(t, db)
				f.wa.Config.StatusBroadcast, f.wa.Config.Newsletters = on, on
				statusText := "status " + name + " " + f.bobJID.User
				if _, err := f.bob.PostStatus(f.ctx, statusText, f.alice); err != nil {
					t.Fatal(err)
				}
				channel, err := f.srv.CreateNewsletter("News "+f.bobJID.User, "What happens", f.alice.User)
				if err != nil {
					t.Fatal(err)
				}
				postText := "post " + name + " " + f.bobJID.User
				if _, err = f.srv.PostNewsletter(f.ctx, channel, &waE2E.Message{Conversation: proto.String(postText)}); err != nil {
					t.Fatal(err)
				}
				// A DM sent after both: once it is in Matrix, the status and the post were handled.
				f.bobSends(&waE2E.Message{Conversation: proto.String("barrier")})
				f.mx.waitEvent(t, 0, "the DM sent after the status and the post", func(e sentEvent) bool {
					return e.Type == event.EventMessage && e.Message().Body == "barrier"
				})
				c := f.login.Client.(*Client)
				statusPortal, _ := f.br.GetExistingPortalByKey(f.ctx, c.portalKey(types.StatusBroadcastJID))
				channelPortal, _ := f.br.GetExistingPortalByKey(f.ctx, c.portalKey(channel))
				if !on {
					if statusPortal != nil || channelPortal != nil {
						t.Fatalf("portals exist with the switches off: status %v, channel %v", statusPortal, channelPortal)
					}
					if n := f.mx.count(func(e sentEvent) bool {
						return e.Type == event.EventMessage && (strings.HasPrefix(e.Message().Body, "status") || strings.HasPrefix(e.Message().Body, "post"))
					}); n != 0 {
						t.Fatalf("%d status/channel messages bridged with the switches off", n)
					}
					// Skipped, yet acknowledged: the server holds nothing for the bridge's device
					// once the barrier's acknowledgement is in.
					dev := *c.WA.Store.ID
					waitFor(t, "the bridge's device to acknowledge everything", func() bool { return f.srv.QueuedCount(dev) == 0 })
					return
				}
				status, _ := f.mx.waitEvent(t, 0, "Bob's status", func(e sentEvent) bool {
					return e.Type == event.EventMessage && e.Message().Body == statusText
				})
				if status.Sender != f.bobGhost {
					t.Errorf("status posted by %s, want Bob's ghost %s", status.Sender, f.bobGhost)
				}
				statusRoom := f.portalRoom(f.login, types.StatusBroadcastJID)
				if status.RoomID != statusRoom {
					t.Errorf("status in %s, want the status room %s", status.RoomID, statusRoom)
				}
				statusPortal, _ = f.br.GetExistingPortalByKey(f.ctx, c.portalKey(types.StatusBroadcastJID))
				if statusPortal.Name != StatusRoomName {
					t.Errorf("status room name = %q", statusPortal.Name)
				}
				post, _ := f.mx.waitEvent(t, 0, "the channel post", func(e sentEvent) bool {
					return e.Type == event.EventMessage && e.Message().Body == postText
				})
				channelRoom := f.portalRoom(f.login, channel)
				if post.RoomID != channelRoom || post.Sender != "@bot:test" {
					t.Errorf("post in %s by %s, want the channel room %s by the bot", post.RoomID, post.Sender, channelRoom)
				}
				channelPortal, _ = f.br.GetExistingPortalByKey(f.ctx, c.portalKey(channel))
				if channelPortal.Name != "News "+f.bobJID.User || channelPortal.Topic != "What happens" {
					t.Errorf("channel room name/topic = %q/%q", channelPortal.Name, channelPortal.Topic)
				}
				pl := f.mx.power[channelRoom]
				if pl == nil || pl.EventsDefault != PowerReadOnly || pl.GetUserLevel("@alice:test") >= PowerReadOnly {
					t.Errorf("channel room power levels %+v do not make it read-only for Alice", pl)
				}
				if c.GetCapabilities(f.ctx, channelPortal).Reply == event.CapLevelFullySupported {
					t.Error("the channel room advertises replies")
				}
				// Matrix → WhatsApp is refused in both rooms.
				for i, room := range []id.RoomID{statusRoom, channelRoom} {
					f.matrixEventAllowFail("@alice:test", room, event.EventMessage, &event.MessageEventContent{MsgType: event.MsgText, Body: "from matrix"})
					want := i + 1
					f.mx.waitStatus(t, func(bridgev2.MessageStatus) bool {
						refused := 0
						for _, st := range f.mx.statuses {
							if st.InternalError != nil && errors.Is(st.InternalError, errReadOnlyChat) {
								refused++
							}
						}
						return refused >= want
					})
				}
			})
		})
	}
}
