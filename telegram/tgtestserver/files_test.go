package tgtestserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"image"
	"image/color"
	"image/jpeg"
	"testing"

	"github.com/gotd/td/telegram/downloader"
	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
)

func testJPEG(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x), G: uint8(y), B: 120, A: 255})
		}
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func download(ctx context.Context, t testing.TB, api *tg.Client, loc tg.InputFileLocationClass) []byte {
	t.Helper()
	var buf bytes.Buffer
	if _, err := downloader.NewDownloader().Download(api, loc).Stream(ctx, &buf); err != nil {
		t.Fatalf("download: %v", err)
	}
	return buf.Bytes()
}

func mediaOf(u tg.UpdateClass) tg.MessageMediaClass {
	if nm, ok := u.(*tg.UpdateNewMessage); ok {
		if m, ok := nm.Message.(*tg.Message); ok {
			return m.Media
		}
	}
	return nil
}

// Files go up with upload.saveFilePart / saveBigFilePart and come back with
// upload.getFile from the locations Telegram would give: photo sizes,
// documents with attributes, profile photos.
func TestFileUploadDownloadRoundTrip(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	avatar := testJPEG(t, 64, 64)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000081"), FirstName: "Alice", Photo: avatar})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000082"), FirstName: "Bob"})
	toBob := inputUserPeer(srv, alice.actor.ID(), bob.actor.ID())
	up := uploader.NewUploader(alice.client.api)

	// Photo: Bob gets a photo with an "m" thumbnail and the original "x".
	photo := testJPEG(t, 800, 600)
	f, err := up.FromBytes(ctx, "view.jpg", photo)
	if err != nil {
		t.Fatalf("upload photo: %v", err)
	}
	if _, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
		Peer: toBob, Media: &tg.InputMediaUploadedPhoto{File: f}, Message: "the view", RandomID: 1,
	}); err != nil {
		t.Fatalf("send photo: %v", err)
	}
	u := bob.rec.wait(t, "photo message", func(u tg.UpdateClass) bool {
		_, ok := mediaOf(u).(*tg.MessageMediaPhoto)
		return ok
	})
	pho := mediaOf(u).(*tg.MessageMediaPhoto).Photo.(*tg.Photo)
	sizes := map[string]*tg.PhotoSize{}
	for _, s := range pho.Sizes {
		ps := s.(*tg.PhotoSize)
		sizes[ps.Type] = ps
	}
	if sizes["x"] == nil || sizes["x"].W != 800 || sizes["m"] == nil || sizes["m"].W != 320 || sizes["m"].H != 240 {
		t.Fatalf("photo sizes = %+v", pho.Sizes)
	}
	loc := &tg.InputPhotoFileLocation{ID: pho.ID, AccessHash: pho.AccessHash, FileReference: pho.FileReference, ThumbSize: "x"}
	if got := download(ctx, t, bob.client.api, loc); !bytes.Equal(got, photo) {
		t.Fatalf("photo download: %d bytes, want the %d uploaded", len(got), len(photo))
	}
	thumb := download(ctx, t, bob.client.api, &tg.InputPhotoFileLocation{ID: pho.ID, AccessHash: pho.AccessHash, FileReference: pho.FileReference, ThumbSize: "m"})
	if cfg, err := jpeg.DecodeConfig(bytes.NewReader(thumb)); err != nil || cfg.Width != 320 {
		t.Fatalf("thumbnail: %+v, %v", cfg, err)
	}

	// Voice note in several parts: attributes (voice + waveform + file
	// name) survive, bytes round-trip.
	voice := make([]byte, 700*1024)
	_, _ = rand.Read(voice)
	vf, err := up.FromBytes(ctx, "note.ogg", voice)
	if err != nil {
		t.Fatalf("upload voice: %v", err)
	}
	waveform := []byte{0, 31, 8, 200, 17}
	if _, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
		Peer: toBob, RandomID: 2,
		Media: &tg.InputMediaUploadedDocument{File: vf, MimeType: "audio/ogg", Attributes: []tg.DocumentAttributeClass{
			&tg.DocumentAttributeAudio{Voice: true, Duration: 3, Waveform: waveform},
		}},
	}); err != nil {
		t.Fatalf("send voice: %v", err)
	}
	u = bob.rec.wait(t, "voice message", func(u tg.UpdateClass) bool {
		m, ok := mediaOf(u).(*tg.MessageMediaDocument)
		return ok && m.Voice
	})
	doc := mediaOf(u).(*tg.MessageMediaDocument).Document.(*tg.Document)
	var gotWave []byte
	var name string
	for _, a := range doc.Attributes {
		switch a := a.(type) {
		case *tg.DocumentAttributeAudio:
			gotWave = a.Waveform
		case *tg.DocumentAttributeFilename:
			name = a.FileName
		}
	}
	if doc.MimeType != "audio/ogg" || doc.Size != int64(len(voice)) || !bytes.Equal(gotWave, waveform) || name != "note.ogg" {
		t.Fatalf("voice document = %+v", doc)
	}
	dloc := &tg.InputDocumentFileLocation{ID: doc.ID, AccessHash: doc.AccessHash, FileReference: doc.FileReference}
	if got := download(ctx, t, bob.client.api, dloc); !bytes.Equal(got, voice) {
		t.Fatalf("voice download differs (%d bytes)", len(got))
	}
	if got := srv.History(bob.actor.ID(), UserPeer(alice.actor.ID())); len(got) != 2 || got[1].Media != "document" || !bytes.Equal(got[1].Data, voice) {
		t.Fatalf("server history = %+v", got)
	}

	// A file over 10 MB goes through upload.saveBigFilePart.
	big := make([]byte, 10*1024*1024+4096)
	_, _ = rand.Read(big)
	bf, err := up.FromBytes(ctx, "archive.bin", big)
	if err != nil {
		t.Fatalf("upload big: %v", err)
	}
	if _, ok := bf.(*tg.InputFileBig); !ok {
		t.Fatalf("big upload gave %T", bf)
	}
	res, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
		Peer: toBob, RandomID: 3,
		Media: &tg.InputMediaUploadedDocument{File: bf, MimeType: "application/octet-stream", ForceFile: true},
	})
	if err != nil {
		t.Fatalf("send big: %v", err)
	}
	own := res.(*tg.Updates).Updates[1].(*tg.UpdateNewMessage).Message.(*tg.Message).Media.(*tg.MessageMediaDocument).Document.(*tg.Document)
	bl := &tg.InputDocumentFileLocation{ID: own.ID, AccessHash: own.AccessHash, FileReference: own.FileReference}
	if got := download(ctx, t, alice.client.api, bl); !bytes.Equal(got, big) {
		t.Fatalf("big download differs (%d bytes)", len(got))
	}

	// Profile photo through the peer photo location.
	users, err := bob.client.api.UsersGetUsers(ctx, []tg.InputUserClass{&tg.InputUser{UserID: alice.actor.ID(), AccessHash: srv.AccessHash(bob.actor.ID(), alice.actor.ID())}})
	if err != nil {
		t.Fatal(err)
	}
	pp := users[0].(*tg.User).Photo.(*tg.UserProfilePhoto)
	got := download(ctx, t, bob.client.api, &tg.InputPeerPhotoFileLocation{Big: true, Peer: inputUserPeer(srv, bob.actor.ID(), alice.actor.ID()), PhotoID: pp.PhotoID})
	if !bytes.Equal(got, avatar) {
		t.Fatalf("avatar download: %d bytes, want %d", len(got), len(avatar))
	}

	// A made-up location is refused.
	if _, err := bob.client.api.UploadGetFile(ctx, &tg.UploadGetFileRequest{Location: &tg.InputDocumentFileLocation{ID: doc.ID, AccessHash: 1}, Limit: 4096}); err == nil {
		t.Fatal("wrong access hash served a file")
	}
}
