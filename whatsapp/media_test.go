package whatsapp

import (
	"bytes"
	"context"
	"crypto/rand"
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

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestMediaRemoteToMatrix(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		upload := func(data []byte, kind whatsmeow.MediaType) whatsmeow.UploadResponse {
			up, err := f.bob.Client.Upload(f.ctx, data, kind)
			if err != nil {
				t.Fatalf("Bob uploads: %v", err)
			}
			return up
		}
		media := func(e sentEvent) []byte {
			msg := e.Message()
			f.mx.mu.Lock()
			defer f.mx.mu.Unlock()
			return f.mx.media[msg.URL]
		}

		img := randomBytes(t, 40_000)
		up := upload(img, whatsmeow.MediaImage)
		f.bobSends(&waE2E.Message{ImageMessage: &waE2E.ImageMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("image/jpeg"),
			Width: proto.Uint32(640), Height: proto.Uint32(480), Caption: proto.String("look at *this*"),
		}})
		got, next := f.mx.waitEvent(t, 0, "the image", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventMessage && e.Message().MsgType == event.MsgImage
		})
		msg := got.Message()
		if !bytes.Equal(media(got), img) {
			t.Error("the image in Matrix differs from the one sent on WhatsApp")
		}
		if msg.Body != "look at *this*" || msg.FormattedBody != "look at <strong>this</strong>" || msg.FileName != "image.jpg" {
			t.Errorf("image caption/name = %q / %q / %q", msg.Body, msg.FormattedBody, msg.FileName)
		}
		if msg.Info == nil || msg.Info.Width != 640 || msg.Info.MimeType != "image/jpeg" || msg.Info.Size != len(img) {
			t.Errorf("image info = %+v", msg.Info)
		}

		voice := randomBytes(t, 5_000)
		up = upload(voice, whatsmeow.MediaAudio)
		f.bobSends(&waE2E.Message{AudioMessage: &waE2E.AudioMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("audio/ogg; codecs=opus"),
			PTT: proto.Bool(true), Seconds: proto.Uint32(3), Waveform: []byte{0, 50, 100},
		}})
		got, next = f.mx.waitEvent(t, next, "the voice note", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventMessage && e.Message().MsgType == event.MsgAudio
		})
		msg = got.Message()
		if !bytes.Equal(media(got), voice) || msg.MSC3245Voice == nil || msg.MSC1767Audio == nil ||
			msg.MSC1767Audio.Duration != 3000 || len(msg.MSC1767Audio.Waveform) != 3 || msg.MSC1767Audio.Waveform[2] != 1024 {
			t.Errorf("voice note = %+v / %+v", msg.MSC3245Voice, msg.MSC1767Audio)
		}

		doc := randomBytes(t, 12_345)
		up = upload(doc, whatsmeow.MediaDocument)
		f.bobSends(&waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("application/pdf"),
			FileName: proto.String("report.pdf"),
		}})
		got, next = f.mx.waitEvent(t, next, "the document", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventMessage && e.Message().MsgType == event.MsgFile
		})
		if !bytes.Equal(media(got), doc) || got.Message().Body != "report.pdf" {
			t.Errorf("document = %q", got.Message().Body)
		}

		sticker := randomBytes(t, 2_000)
		up = upload(sticker, whatsmeow.MediaImage)
		f.bobSends(&waE2E.Message{StickerMessage: &waE2E.StickerMessage{
			URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey, FileEncSHA256: up.FileEncSHA256,
			FileSHA256: up.FileSHA256, FileLength: &up.FileLength, Mimetype: proto.String("image/webp"),
			IsAnimated: proto.Bool(true),
		}})
		got, next = f.mx.waitEvent(t, next, "the sticker", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventSticker
		})
		if !bytes.Equal(media(got), sticker) {
			t.Error("sticker bytes differ")
		}

		f.bobSends(&waE2E.Message{LocationMessage: &waE2E.LocationMessage{
			DegreesLatitude: proto.Float64(48.8584), DegreesLongitude: proto.Float64(2.2945), Name: proto.String("Tour Eiffel"),
		}})
		got, _ = f.mx.waitEvent(t, next, "the location", func(e sentEvent) bool {
			return e.Sender == f.bobGhost && e.Type == event.EventMessage && e.Message().MsgType == event.MsgLocation
		})
		if got.Message().GeoURI != "geo:48.858400,2.294500" {
			t.Errorf("location geo URI = %q", got.Message().GeoURI)
		}
	})
}

func TestMediaMatrixToRemote(t *testing.T) {
	forEachDB(t, func(t *testing.T, db *dbutil.Database) {
		f := newDM(t, db)
		f.bobSends(&waE2E.Message{Conversation: proto.String("send me a picture")})
		f.mx.waitEvent(t, 0, "Bob's message", func(e sentEvent) bool { return e.Sender == f.bobGhost && e.Type == event.EventMessage })
		room := f.portalRoom(f.login, f.bobJID)
		img := randomBytes(t, 30_000)
		f.mx.mu.Lock()
		f.mx.media["mxc://test/alice-image"] = img
		f.mx.mu.Unlock()

		from := len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgImage, Body: "here _it_ is", FileName: "photo.png", URL: id.ContentURIString("mxc://test/alice-image"),
			Format: event.FormatHTML, FormattedBody: "here <em>it</em> is",
			Info: &event.FileInfo{MimeType: "image/png", Width: 100, Height: 50, Size: len(img)},
		})
		ctx, cancel := context.WithTimeout(f.ctx, 20*time.Second)
		defer cancel()
		got, _, err := watestserver.WaitFor(ctx, f.bob.Events, from, func(m *events.Message) bool { return m.Message.GetImageMessage() != nil })
		if err != nil {
			t.Fatalf("Bob never got the image: %v", err)
		}
		im := got.Message.GetImageMessage()
		if im.GetCaption() != "here _it_ is" || im.GetMimetype() != "image/png" || im.GetWidth() != 100 {
			t.Errorf("image message = caption %q mime %q width %d", im.GetCaption(), im.GetMimetype(), im.GetWidth())
		}
		data, err := f.bob.Client.Download(f.ctx, im)
		if err != nil {
			t.Fatalf("Bob cannot download the image: %v", err)
		}
		if !bytes.Equal(data, img) {
			t.Error("the image Bob downloaded differs from the one sent in Matrix")
		}

		from = len(f.bob.Events.Events())
		f.matrixEvent("@alice:test", room, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgLocation, Body: "here", GeoURI: "geo:45.5,-73.25",
		})
		loc, _, err := watestserver.WaitFor(ctx, f.bob.Events, from, func(m *events.Message) bool { return m.Message.GetLocationMessage() != nil })
		if err != nil {
			t.Fatalf("Bob never got the location: %v", err)
		}
		if l := loc.Message.GetLocationMessage(); l.GetDegreesLatitude() != 45.5 || l.GetDegreesLongitude() != -73.25 {
			t.Errorf("location = %v", l)
		}
	})
}
