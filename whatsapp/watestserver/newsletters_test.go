package watestserver

import (
	"testing"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestStatusAndNewsletter: a status posted by a phone reaches its contacts' devices decrypted,
// from status@broadcast with the poster as sender, and not the devices of non-contacts; a channel
// post reaches its subscribers in plaintext, and the channel's metadata answers GetNewsletterInfo.
func TestStatusAndNewsletter(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	alice := pairedClient(t, srv, "Alice", "33611111111")
	carol := pairedClient(t, srv, "Carol", "33633333333")
	bob, err := srv.NewPhone(ctx, "33622222222", PhoneOptions{PushName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bob.Close)

	aliceJID := types.NewJID("33611111111", types.DefaultUserServer)
	resp, err := bob.PostStatus(ctx, "at the beach", aliceJID)
	if err != nil {
		t.Fatal(err)
	}
	status, _, err := WaitFor(ctx, alice.log, 0, func(m *events.Message) bool {
		return m.Info.ID == resp.ID && textOf(m.Message) != ""
	})
	if err != nil {
		t.Fatalf("Alice never saw Bob's status: %v", err)
	}
	if status.Info.Chat != types.StatusBroadcastJID || status.Info.Sender.User != "33622222222" || textOf(status.Message) != "at the beach" {
		t.Fatalf("status = chat %s sender %s text %q", status.Info.Chat, status.Info.Sender, textOf(status.Message))
	}

	channel, err := srv.CreateNewsletter("Daily news", "All the news", "33611111111")
	if err != nil {
		t.Fatal(err)
	}
	postID, err := srv.PostNewsletter(ctx, channel, whatsmeowText("edition 1"))
	if err != nil {
		t.Fatal(err)
	}
	post, _, err := WaitFor(ctx, alice.log, 0, func(m *events.Message) bool { return m.Info.ID == postID })
	if err != nil {
		t.Fatalf("Alice never saw the channel post: %v", err)
	}
	if post.Info.Chat != channel || textOf(post.Message) != "edition 1" {
		t.Fatalf("channel post = chat %s text %q", post.Info.Chat, textOf(post.Message))
	}
	info, err := alice.cli.GetNewsletterInfo(ctx, channel)
	if err != nil {
		t.Fatal(err)
	}
	if info.ThreadMeta.Name.Text != "Daily news" || info.ThreadMeta.Description.Text != "All the news" || info.ViewerMeta.Role != types.NewsletterRoleSubscriber {
		t.Fatalf("newsletter info = %+v", info)
	}
	if _, err = srv.PostNewsletter(ctx, types.NewJID("1", types.NewsletterServer), whatsmeowText("x")); err == nil {
		t.Fatal("a post to an unknown channel was accepted")
	}
	waitQueuesDrain(t, srv)
	for _, evt := range carol.log.Events() {
		if m, ok := evt.(*events.Message); ok && (m.Info.ID == resp.ID || m.Info.ID == postID) {
			t.Fatalf("Carol, neither Bob's contact nor a subscriber, got %s", m.Info.ID)
		}
	}
}
