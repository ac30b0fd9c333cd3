package tgtestserver

import (
	"slices"
	"testing"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

// Group settings through real clients: the about text of basic groups and supergroups (members
// are told with updateChat/updateChannel), allowed reactions (others get REACTION_INVALID),
// removal from a supergroup with channels.editBanned (service message, updateChannel to the
// removed user, no way back alone) and forum topics by ID.
func TestChatSettings(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000011"), FirstName: "Alice"})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33610000012"), FirstName: "Bob"})
	api, bobAPI := alice.client.api, bob.client.api

	// Basic group: any member may change the description.
	chatID, err := alice.actor.CreateGroup("Group", bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := bobAPI.MessagesEditChatAbout(ctx, &tg.MessagesEditChatAboutRequest{Peer: &tg.InputPeerChat{ChatID: chatID}, About: "about the group"}); err != nil {
		t.Fatal(err)
	}
	alice.rec.wait(t, "updateChat", func(u tg.UpdateClass) bool { c, ok := u.(*tg.UpdateChat); return ok && c.ChatID == chatID })
	if _, err := bobAPI.MessagesEditChatAbout(ctx, &tg.MessagesEditChatAboutRequest{Peer: &tg.InputPeerChat{ChatID: chatID}, About: "about the group"}); !tgerr.Is(err, "CHAT_ABOUT_NOT_MODIFIED") {
		t.Fatalf("same about again: %v", err)
	}
	full, err := api.MessagesGetFullChat(ctx, chatID)
	if err != nil || full.FullChat.(*tg.ChatFull).About != "about the group" {
		t.Fatalf("full chat %+v (%v)", full, err)
	}

	// Supergroup: only admins.
	sgID, err := alice.actor.CreateChannel("Super", Supergroup, bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	aliceCh := &tg.InputChannel{ChannelID: sgID, AccessHash: srv.AccessHash(alice.actor.ID(), sgID)}
	bobCh := &tg.InputPeerChannel{ChannelID: sgID, AccessHash: srv.AccessHash(bob.actor.ID(), sgID)}
	alicePeer := &tg.InputPeerChannel{ChannelID: sgID, AccessHash: aliceCh.AccessHash}
	if _, err := bobAPI.MessagesEditChatAbout(ctx, &tg.MessagesEditChatAboutRequest{Peer: bobCh, About: "x"}); !tgerr.Is(err, "CHAT_ADMIN_REQUIRED") {
		t.Fatalf("member edits a supergroup's about: %v", err)
	}
	if _, err := api.MessagesEditChatAbout(ctx, &tg.MessagesEditChatAboutRequest{Peer: alicePeer, About: "about the supergroup"}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "updateChannel", func(u tg.UpdateClass) bool { c, ok := u.(*tg.UpdateChannel); return ok && c.ChannelID == sgID })
	if info, _ := srv.Chat(ChannelPeer(sgID)); info.About != "about the supergroup" {
		t.Fatalf("supergroup about %q", info.About)
	}

	// Allowed reactions.
	if _, err := api.MessagesSetChatAvailableReactions(ctx, &tg.MessagesSetChatAvailableReactionsRequest{
		Peer: alicePeer, AvailableReactions: &tg.ChatReactionsSome{Reactions: []tg.ReactionClass{&tg.ReactionEmoji{Emoticon: "👍"}}},
	}); err != nil {
		t.Fatal(err)
	}
	sent, err := alice.actor.SendText(ChannelPeer(sgID), "react to this")
	if err != nil {
		t.Fatal(err)
	}
	react := func(emoji string) error {
		_, err := bobAPI.MessagesSendReaction(ctx, &tg.MessagesSendReactionRequest{Peer: bobCh, MsgID: sent.ID, Reaction: []tg.ReactionClass{&tg.ReactionEmoji{Emoticon: emoji}}})
		return err
	}
	if err := react("😂"); !tgerr.Is(err, "REACTION_INVALID") {
		t.Fatalf("reaction outside the allowed set: %v", err)
	}
	if err := react("👍"); err != nil {
		t.Fatalf("allowed reaction: %v", err)
	}
	fc, err := bobAPI.ChannelsGetFullChannel(ctx, &tg.InputChannel{ChannelID: sgID, AccessHash: bobCh.AccessHash})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := fc.FullChat.(*tg.ChannelFull).GetAvailableReactions(); r == nil || len(r.(*tg.ChatReactionsSome).Reactions) != 1 {
		t.Fatalf("available reactions %v", r)
	}

	// Removal.
	if _, err := bobAPI.ChannelsEditBanned(ctx, &tg.ChannelsEditBannedRequest{Channel: &tg.InputChannel{ChannelID: sgID, AccessHash: bobCh.AccessHash},
		Participant: inputUserPeer(srv, bob.actor.ID(), alice.actor.ID()), BannedRights: tg.ChatBannedRights{ViewMessages: true}}); !tgerr.Is(err, "CHAT_ADMIN_REQUIRED") {
		t.Fatalf("member bans: %v", err)
	}
	if _, err := api.ChannelsEditBanned(ctx, &tg.ChannelsEditBannedRequest{Channel: aliceCh,
		Participant: inputUserPeer(srv, alice.actor.ID(), bob.actor.ID()), BannedRights: tg.ChatBannedRights{ViewMessages: true}}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "updateChannel after removal", func(u tg.UpdateClass) bool { c, ok := u.(*tg.UpdateChannel); return ok && c.ChannelID == sgID })
	info, _ := srv.Chat(ChannelPeer(sgID))
	if slices.Contains(info.Members, bob.actor.ID()) || !slices.Equal(info.Banned, []int64{bob.actor.ID()}) {
		t.Fatalf("after the ban: %+v", info)
	}
	h := srv.History(alice.actor.ID(), ChannelPeer(sgID))
	if a, ok := h[len(h)-1].Action.(*tg.MessageActionChatDeleteUser); !ok || a.UserID != bob.actor.ID() {
		t.Fatalf("last message %+v, want the removal", h[len(h)-1])
	}
	if err := bob.actor.Join(sgID); err == nil {
		t.Fatal("a removed user joined back alone")
	}
	if err := alice.actor.Invite(ChannelPeer(sgID), bob.actor.ID()); err != nil {
		t.Fatalf("an admin's invite after the ban: %v", err)
	}

	// Forum topics by ID.
	forumID, err := alice.actor.CreateChannel("Forum", Forum, bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	topic, err := alice.actor.CreateTopic(forumID, "Plans")
	if err != nil {
		t.Fatal(err)
	}
	res, err := bobAPI.MessagesGetForumTopicsByID(ctx, &tg.MessagesGetForumTopicsByIDRequest{
		Peer: &tg.InputPeerChannel{ChannelID: forumID, AccessHash: srv.AccessHash(bob.actor.ID(), forumID)}, Topics: []int{topic, 1, 999},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Topics) != 3 || res.Topics[0].(*tg.ForumTopic).Title != "Plans" || res.Topics[1].(*tg.ForumTopic).Title != "General" {
		t.Fatalf("topics %+v", res.Topics)
	}
	if _, ok := res.Topics[2].(*tg.ForumTopicDeleted); !ok {
		t.Fatalf("unknown topic answered %T", res.Topics[2])
	}
}
