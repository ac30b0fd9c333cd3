package whatsapp

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestAvatars: a contact's picture reaches their ghost, is not fetched again while unchanged,
// and is replaced when it changes; group pictures change both ways.
func TestAvatars(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		c := f.login.Client.(*Client)
		isBobAvatar := func(e sentEvent) bool { return e.Type == profileAvatarType && e.Sender == f.bobGhost }
		avatarData := func(e sentEvent) []byte {
			f.mx.mu.Lock()
			defer f.mx.mu.Unlock()
			return f.mx.media[id.ContentURIString(strings.Trim(string(e.Content.VeryRaw), `"`))]
		}
		pic1 := bytes.Repeat([]byte{0xFF, 0xD8, 1}, 500)
		if _, err := f.srv.SetAvatar(f.bobJID, pic1); err != nil {
			t.Fatal(err)
		}
		got, next := f.mx.waitEvent(t, 0, "Bob's avatar", isBobAvatar)
		if !bytes.Equal(avatarData(got), pic1) {
			t.Error("Bob's ghost avatar differs from his WhatsApp picture")
		}
		// Unchanged: another profile refresh does not upload it again.
		c.handleEvent(&events.Picture{JID: f.bobJID, Timestamp: time.Now()})
		time.Sleep(300 * time.Millisecond)
		if n := f.mx.count(isBobAvatar); n != 1 {
			t.Errorf("avatar set %d times for an unchanged picture", n)
		}
		pic2 := bytes.Repeat([]byte{0xFF, 0xD8, 2}, 500)
		if _, err := f.srv.SetAvatar(f.bobJID, pic2); err != nil {
			t.Fatal(err)
		}
		got, _ = f.mx.waitEvent(t, next, "Bob's new avatar", isBobAvatar)
		if !bytes.Equal(avatarData(got), pic2) {
			t.Error("Bob's new picture did not replace the old one")
		}

		// Group picture set on the phone → room avatar; set in Matrix → WhatsApp group picture.
		group, err := f.srv.CreateGroup(f.ctx, f.bobJID.User, "Photos", f.alice.User)
		if err != nil {
			t.Fatal(err)
		}
		created, next := f.mx.waitEvent(t, 0, "the group's room", func(e sentEvent) bool {
			return e.Type == event.StateCreate && strings.Contains(string(e.Content.VeryRaw), "Photos")
		})
		gpic := bytes.Repeat([]byte{0xFF, 0xD8, 3}, 500)
		if _, err = f.srv.SetAvatar(group, gpic); err != nil {
			t.Fatal(err)
		}
		_, next = f.mx.waitEvent(t, next, "the room avatar", func(e sentEvent) bool {
			return e.Type == event.StateRoomAvatar && e.RoomID == created.RoomID
		})
		mine := bytes.Repeat([]byte{0xFF, 0xD8, 4}, 500)
		f.mx.mu.Lock()
		f.mx.media["mxc://test/group-pic"] = mine
		f.mx.mu.Unlock()
		from := len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", created.RoomID, event.StateRoomAvatar, &event.RoomAvatarEventContent{URL: "mxc://test/group-pic"})
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		pic, _, err := waitForPicture(ctx, f, from, group)
		if err != nil {
			t.Fatalf("Bob's phone never saw the new group picture: %v", err)
		}
		info, err := f.bob.Client.GetProfilePictureInfo(f.ctx, group, nil)
		if err != nil || info == nil || info.ID != pic.PictureID {
			t.Errorf("group picture on WhatsApp = %+v (%v), want ID %s", info, err, pic.PictureID)
		}
	})
}

func waitForPicture(ctx context.Context, f *dmFixture, from int, jid types.JID) (*events.Picture, int, error) {
	return watestserver.WaitFor(ctx, f.bob.Events, from, func(p *events.Picture) bool { return p.JID == jid && !p.Remove })
}
