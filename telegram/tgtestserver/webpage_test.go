package tgtestserver

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"testing"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 16, 12))
	img.Set(3, 4, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func newMessageOf(u tg.UpdateClass) *tg.Message {
	var m tg.MessageClass
	switch u := u.(type) {
	case *tg.UpdateNewMessage:
		m = u.Message
	case *tg.UpdateEditMessage:
		m = u.Message
	case *tg.UpdateNewChannelMessage:
		m = u.Message
	case *tg.UpdateEditChannelMessage:
		m = u.Message
	}
	msg, _ := m.(*tg.Message)
	return msg
}

// Links to registered pages get Telegram's link preview, whether a scripted user or a client
// sends them; no_webpage and an optional inputMediaWebPage for an unknown page send plain text,
// and a required one fails as Telegram does when it cannot load the page.
func TestWebPagePreviews(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000001"), FirstName: "Alice"})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000002"), FirstName: "Bob"})
	url := "https://" + uniqueName("news") + ".example.org/story"
	if err := srv.AddWebPage(WebPage{URL: url, SiteName: "Example News", Title: "A story", Description: "What happened", Photo: testPNG(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.actor.SendText(UserPeer(alice.actor.ID()), "read "+url+" now"); err != nil {
		t.Fatal(err)
	}
	got := newMessageOf(alice.rec.wait(t, "the link with its preview", isNewMessage("read "+url+" now")))
	mw, ok := got.Media.(*tg.MessageMediaWebPage)
	if !ok {
		t.Fatalf("media %T, want a web page preview", got.Media)
	}
	wp, ok := mw.Webpage.(*tg.WebPage)
	if !ok || wp.URL != url || wp.SiteName != "Example News" || wp.Title != "A story" || wp.Description != "What happened" {
		t.Fatalf("web page %+v", mw.Webpage)
	}
	photo, ok := wp.Photo.(*tg.Photo)
	if !ok || len(photo.Sizes) == 0 {
		t.Fatalf("preview photo %+v", wp.Photo)
	}

	peer := inputUserPeer(srv, alice.actor.ID(), bob.actor.ID())
	// no_webpage keeps the link bare.
	if _, err := alice.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: peer, Message: "bare " + url, RandomID: 1, NoWebpage: true}); err != nil {
		t.Fatal(err)
	}
	// inputMediaWebPage asks for the preview of one link.
	if _, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{Peer: peer, Message: "see " + url, RandomID: 2,
		Media: &tg.InputMediaWebPage{URL: url, Optional: true}}); err != nil {
		t.Fatal(err)
	}
	// An optional preview of a page the server cannot load goes out as text.
	if _, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{Peer: peer, Message: "see https://unknown.example.net/", RandomID: 3,
		Media: &tg.InputMediaWebPage{URL: "https://unknown.example.net/", Optional: true}}); err != nil {
		t.Fatal(err)
	}
	_, err := alice.client.api.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{Peer: peer, Message: "see https://unknown.example.net/", RandomID: 4,
		Media: &tg.InputMediaWebPage{URL: "https://unknown.example.net/"}})
	if !tgerr.Is(err, "WEBPAGE_CURL_FAILED") {
		t.Fatalf("required preview of an unknown page: %v, want WEBPAGE_CURL_FAILED", err)
	}
	want := map[string]string{"bare " + url: "", "see " + url: "webpage", "see https://unknown.example.net/": ""}
	for _, m := range srv.History(bob.actor.ID(), UserPeer(alice.actor.ID())) {
		if media, ok := want[m.Text]; ok {
			if m.Media != media {
				t.Errorf("%q arrived with media %q, want %q", m.Text, m.Media, media)
			}
			delete(want, m.Text)
		}
	}
	if len(want) != 0 {
		t.Errorf("never arrived: %v", want)
	}
}
