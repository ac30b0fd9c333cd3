package telegram

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gotd/td/rpc"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"

	"github.com/passerelle-bridge/passerelle/outbox"
)

// TestSentShapeMatches: a message the network shows as the user's own is taken for a cut-off
// send only when its text or caption is the same and it carries the same kind of media (a photo,
// or a document with the same file name); a link preview does not make a text a media message.
func TestSentShapeMatches(t *testing.T) {
	doc := func(name string) *tg.MessageMediaDocument {
		return &tg.MessageMediaDocument{Document: &tg.Document{Attributes: []tg.DocumentAttributeClass{
			&tg.DocumentAttributeVideo{}, &tg.DocumentAttributeFilename{FileName: name},
		}}}
	}
	text := sentShape{text: "hello"}
	photo := sentShape{text: "the chart", media: true, photo: true}
	file := sentShape{media: true, fileName: "report.pdf"}
	cases := []struct {
		name  string
		shape sentShape
		msg   *tg.Message
		want  bool
	}{
		{"same text", text, &tg.Message{Message: "hello"}, true},
		{"other text", text, &tg.Message{Message: "hello!"}, false},
		{"text with a link preview", sentShape{text: "see https://example.org"}, &tg.Message{Message: "see https://example.org", Media: &tg.MessageMediaWebPage{}}, true},
		{"text against a photo with that caption", text, &tg.Message{Message: "hello", Media: &tg.MessageMediaPhoto{}}, false},
		{"emote prefix kept", sentShape{text: "/me waves"}, &tg.Message{Message: "/me waves"}, true},
		{"photo with its caption", photo, &tg.Message{Message: "the chart", Media: &tg.MessageMediaPhoto{}}, true},
		{"photo with another caption", photo, &tg.Message{Message: "a chart", Media: &tg.MessageMediaPhoto{}}, false},
		{"photo against a document", photo, &tg.Message{Message: "the chart", Media: doc("chart.png")}, false},
		{"photo against a text", photo, &tg.Message{Message: "the chart"}, false},
		{"document by file name", file, &tg.Message{Media: doc("report.pdf")}, true},
		{"document with another name", file, &tg.Message{Media: doc("report (1).pdf")}, false},
		{"document against a photo", file, &tg.Message{Media: &tg.MessageMediaPhoto{}}, false},
		{"document without attributes", file, &tg.Message{Media: &tg.MessageMediaDocument{Document: &tg.Document{}}}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.shape.matches(tc.msg); got != tc.want {
				t.Fatalf("matches = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestConnectionErrors: which failed sends go to the outbox (the connection's fault) rather than
// being reported as Telegram's refusal, with the link still marked up.
func TestConnectionErrors(t *testing.T) {
	c := &Client{}
	c.linkUp.Store(true)
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"Telegram refused", fmt.Errorf("send message: %w", tgerr.New(400, "MESSAGE_EMPTY")), false},
		{"not connected", fmt.Errorf("send message: %w", ErrNotConnected), true},
		{"engine closed", fmt.Errorf("send message: %w", rpc.ErrEngineClosed), true},
		{"client restarted under the request", fmt.Errorf("send to Telegram: client closed: %w", context.Canceled), true},
		{"already queued", outbox.ErrQueued, false},
		{"other failure while linked", errors.New("upload failed"), false},
	}
	for _, tt := range tests {
		if got := c.isConnectionError(tt.err); got != tt.want {
			t.Errorf("%s: connection error = %v, want %v", tt.name, got, tt.want)
		}
	}
	c.linkUp.Store(false)
	if !c.isConnectionError(errors.New("upload failed")) {
		t.Error("a failure while the link is down is not the connection's")
	}
}
