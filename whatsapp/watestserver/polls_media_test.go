package watestserver

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// TestPollVote: a poll and a vote, whose choice is encrypted with the poll's message secret,
// pass through the server; the poll's author decrypts the vote.
func TestPollVote(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob, err := srv.NewPhone(ctx, "33622222222", PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	poll := alice.cli.BuildPollCreation("Déjeuner ?", []string{"12h", "13h"}, 1)
	resp, err := alice.cli.SendMessage(ctx, bob.JID.ToNonAD(), poll)
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := WaitFor(ctx, bob.Events, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
	if err != nil {
		t.Fatal(err)
	}
	vote, err := bob.Client.BuildPollVote(ctx, &got.Info, []string{"13h"})
	if err != nil {
		t.Fatal(err)
	}
	voteResp, err := bob.Client.SendMessage(ctx, alice.cli.Store.GetJID().ToNonAD(), vote)
	if err != nil {
		t.Fatal(err)
	}
	voteMsg, _, err := WaitFor(ctx, alice.log, 0, func(m *events.Message) bool { return m.Info.ID == voteResp.ID })
	if err != nil {
		t.Fatal(err)
	}
	decrypted, err := alice.cli.DecryptPollVote(ctx, voteMsg)
	if err != nil {
		t.Fatalf("decrypt vote: %v", err)
	}
	want := sha256.Sum256([]byte("13h"))
	if len(decrypted.GetSelectedOptions()) != 1 || !bytes.Equal(decrypted.GetSelectedOptions()[0], want[:]) {
		t.Fatalf("vote = %x", decrypted.GetSelectedOptions())
	}
	waitQueuesDrain(t, srv)
}

// TestMediaKinds: every kind of attachment uploads and downloads by its own path.
func TestMediaKinds(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	bob := pairedClient(t, srv, "Bob", "33622222222")
	cases := []struct {
		name  string
		kind  whatsmeow.MediaType
		build func(up whatsmeow.UploadResponse) *waE2E.Message
		get   func(m *waE2E.Message) whatsmeow.DownloadableMessage
	}{
		{"video", whatsmeow.MediaVideo, func(up whatsmeow.UploadResponse) *waE2E.Message {
			return &waE2E.Message{VideoMessage: &waE2E.VideoMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength), Mimetype: proto.String("video/mp4")}}
		}, func(m *waE2E.Message) whatsmeow.DownloadableMessage { return m.GetVideoMessage() }},
		{"voice", whatsmeow.MediaAudio, func(up whatsmeow.UploadResponse) *waE2E.Message {
			return &waE2E.Message{AudioMessage: &waE2E.AudioMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength), Mimetype: proto.String("audio/ogg; codecs=opus"), PTT: proto.Bool(true)}}
		}, func(m *waE2E.Message) whatsmeow.DownloadableMessage { return m.GetAudioMessage() }},
		{"document", whatsmeow.MediaDocument, func(up whatsmeow.UploadResponse) *waE2E.Message {
			return &waE2E.Message{DocumentMessage: &waE2E.DocumentMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength), Mimetype: proto.String("application/pdf"), FileName: proto.String("plan.pdf")}}
		}, func(m *waE2E.Message) whatsmeow.DownloadableMessage { return m.GetDocumentMessage() }},
		{"sticker", whatsmeow.MediaImage, func(up whatsmeow.UploadResponse) *waE2E.Message {
			return &waE2E.Message{StickerMessage: &waE2E.StickerMessage{URL: &up.URL, DirectPath: &up.DirectPath, MediaKey: up.MediaKey,
				FileEncSHA256: up.FileEncSHA256, FileSHA256: up.FileSHA256, FileLength: proto.Uint64(up.FileLength), Mimetype: proto.String("image/webp")}}
		}, func(m *waE2E.Message) whatsmeow.DownloadableMessage { return m.GetStickerMessage() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := bytes.Repeat([]byte(tc.name), 3000)
			up, err := alice.cli.Upload(ctx, data, tc.kind)
			if err != nil {
				t.Fatal(err)
			}
			up.URL = "" // download by direct path, through the media host
			resp, err := alice.cli.SendMessage(ctx, bob.cli.Store.GetJID().ToNonAD(), tc.build(up))
			if err != nil {
				t.Fatal(err)
			}
			msg, _, err := WaitFor(ctx, bob.log, 0, func(m *events.Message) bool { return m.Info.ID == resp.ID })
			if err != nil {
				t.Fatal(err)
			}
			got, err := bob.cli.Download(ctx, tc.get(msg.Message))
			if err != nil {
				t.Fatalf("download: %v", err)
			}
			if !bytes.Equal(got, data) {
				t.Fatal("downloaded data differs")
			}
		})
	}
	waitQueuesDrain(t, srv)
}
