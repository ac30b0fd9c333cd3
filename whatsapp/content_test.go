package whatsapp

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.mau.fi/util/dbutil"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/whatsapp/watestserver"
)

// TestMoreContent: contact cards, live locations, GIFs, view-once media and disappearing-message
// timers from WhatsApp; stickers and voice notes from Matrix.
func TestMoreContent(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		fromBob := func(match func(sentEvent) bool) func(sentEvent) bool {
			return func(e sentEvent) bool { return e.Sender == f.bobGhost && match(e) }
		}
		f.bobSends(&waE2E.Message{ContactMessage: &waE2E.ContactMessage{
			DisplayName: proto.String("Jeanne"),
			Vcard:       proto.String("BEGIN:VCARD\nVERSION:3.0\nFN:Jeanne Martin\nTEL;type=CELL:+33 6 11 11 11 11\nEND:VCARD"),
		}})
		_, next := f.mx.waitEvent(t, 0, "the contact card", fromBob(func(e sentEvent) bool {
			return e.Type == event.EventMessage && e.Message().Body == "👤 Jeanne: +33 6 11 11 11 11"
		}))

		f.bobSends(&waE2E.Message{LiveLocationMessage: &waE2E.LiveLocationMessage{
			DegreesLatitude: proto.Float64(43.3), DegreesLongitude: proto.Float64(5.4),
		}})
		_, next = f.mx.waitEvent(t, next, "the live location", fromBob(func(e sentEvent) bool {
			m := e.Message()
			return m.MsgType == event.MsgLocation && strings.HasPrefix(m.Body, "Live location") && m.GeoURI == "geo:43.300000,5.400000"
		}))

		gif := randomBytes(t, 3_000)
		up, err := f.bob.Client.Upload(f.ctx, gif, whatsmeow.MediaVideo)
		if err != nil {
			t.Fatal(err)
		}
		f.bobSends(&waE2E.Message{VideoMessage: &waE2E.VideoMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("video/mp4"), GifPlayback: proto.Bool(true),
		}})
		_, next = f.mx.waitEvent(t, next, "the GIF", fromBob(func(e sentEvent) bool {
			m := e.Message()
			return m.MsgType == event.MsgVideo && m.Info != nil && m.Info.MauGIF
		}))

		once := randomBytes(t, 3_000)
		up, err = f.bob.Client.Upload(f.ctx, once, whatsmeow.MediaImage)
		if err != nil {
			t.Fatal(err)
		}
		f.bobSends(&waE2E.Message{ViewOnceMessage: &waE2E.FutureProofMessage{Message: &waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("image/jpeg"), ViewOnce: proto.Bool(true),
		}}}})
		_, next = f.mx.waitEvent(t, next, "the view-once image", fromBob(func(e sentEvent) bool {
			m := e.Message()
			return m.MsgType == event.MsgImage && strings.HasPrefix(m.Body, "👁 View once")
		}))

		// Bob turns on disappearing messages (one day).
		f.bobSends(&waE2E.Message{ProtocolMessage: &waE2E.ProtocolMessage{
			Type:                waE2E.ProtocolMessage_EPHEMERAL_SETTING.Enum(),
			EphemeralExpiration: proto.Uint32(86400),
		}})
		f.mx.waitEvent(t, next, "the disappearing timer", func(e sentEvent) bool {
			return strings.Contains(string(e.Content.VeryRaw), "86400") || strings.Contains(string(e.Content.VeryRaw), "1 day")
		})
		p, err := f.br.GetExistingPortalByKey(f.ctx, f.login.Client.(*Client).portalKey(f.bobJID))
		if err != nil || p == nil || p.Disappear.Timer != 24*time.Hour {
			t.Errorf("portal disappearing setting = %+v (%v)", p.Disappear, err)
		}

		// Stickers and voice notes from Matrix.
		room := f.portalRoom(f.login, f.bobJID)
		f.mx.mu.Lock()
		f.mx.media["mxc://test/sticker"] = randomBytes(t, 1_000)
		f.mx.media["mxc://test/voice"] = randomBytes(t, 1_000)
		f.mx.mu.Unlock()
		from := len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventSticker, &event.MessageEventContent{
			Body: "cat", URL: id.ContentURIString("mxc://test/sticker"), Info: &event.FileInfo{MimeType: "image/webp", Width: 256, Height: 256},
		})
		f.bobReceives(from, "the sticker", func(m *events.Message) bool { return m.Message.GetStickerMessage() != nil })
		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgAudio, Body: "voice.ogg", URL: id.ContentURIString("mxc://test/voice"),
			Info:         &event.FileInfo{MimeType: "audio/ogg"},
			MSC3245Voice: &event.MSC3245Voice{}, MSC1767Audio: &event.MSC1767Audio{Duration: 4000, Waveform: []int{0, 512, 1024}},
		})
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		voice, _, err := watestserver.WaitFor(ctx, f.bob.Events, from, func(m *events.Message) bool { return m.Message.GetAudioMessage() != nil })
		if err != nil {
			t.Fatalf("Bob never got the voice note: %v", err)
		}
		if a := voice.Message.GetAudioMessage(); !a.GetPTT() || a.GetSeconds() != 4 || len(a.GetWaveform()) != 64 {
			t.Errorf("voice note = ptt %v, %ds, waveform %d bytes", a.GetPTT(), a.GetSeconds(), len(a.GetWaveform()))
		}
	})
}
