package tgtestserver

import (
	"strings"
	"testing"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

func actionIs[T tg.MessageActionClass](u tg.UpdateClass) bool {
	var m tg.MessageClass
	switch u := u.(type) {
	case *tg.UpdateNewMessage:
		m = u.Message
	case *tg.UpdateNewChannelMessage:
		m = u.Message
	default:
		return false
	}
	sm, ok := m.(*tg.MessageService)
	if !ok {
		return false
	}
	_, ok = sm.Action.(T)
	return ok
}

// Basic groups: scripted creation, members' own message IDs, deletion as
// updateDeleteMessages with IDs only, rename, and migration to a supergroup
// with service messages on both sides.
func TestBasicGroupLifecycleAndMigration(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000092"), FirstName: "Bob"})
	carol, err := srv.CreateUser(UserSpec{Phone: ph("+33600000091"), FirstName: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	dave, err := srv.CreateUser(UserSpec{Phone: ph("+33600000093"), FirstName: "Dave"})
	if err != nil {
		t.Fatal(err)
	}
	chatID, err := carol.CreateGroup("Family", bob.actor.ID(), dave.ID())
	if err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "chat create", actionIs[*tg.MessageActionChatCreate])

	full, err := bob.client.api.MessagesGetFullChat(ctx, chatID)
	if err != nil {
		t.Fatalf("getFullChat: %v", err)
	}
	parts := full.FullChat.(*tg.ChatFull).Participants.(*tg.ChatParticipants).Participants
	if len(parts) != 3 {
		t.Fatalf("participants = %+v", parts)
	}
	if _, ok := parts[0].(*tg.ChatParticipantCreator); !ok {
		t.Fatalf("first participant %T, want creator", parts[0])
	}

	sent, err := carol.SendText(ChatPeer(chatID), "dinner?", &tg.MessageEntityItalic{Offset: 0, Length: 6})
	if err != nil {
		t.Fatal(err)
	}
	got := bob.rec.wait(t, "group message", isNewMessage("dinner?")).(*tg.UpdateNewMessage)
	gm := got.Message.(*tg.Message)
	if bob.rec.short.Load() == 0 {
		t.Fatal("a plain group message was not pushed as updateShortChatMessage")
	}
	if gm.ID != sent.IDFor(bob.actor.ID()) || gm.PeerID.(*tg.PeerChat).ChatID != chatID || gm.FromID.(*tg.PeerUser).UserID != carol.ID() {
		t.Fatalf("bob's copy = %+v", gm)
	}

	// Bob answers through the API; Carol's box has it.
	if _, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: &tg.InputPeerChat{ChatID: chatID}, Message: "yes", RandomID: 5}); err != nil {
		t.Fatal(err)
	}
	hist := srv.History(carol.ID(), ChatPeer(chatID))
	if last := hist[len(hist)-1]; last.Text != "yes" || last.From != bob.actor.ID() {
		t.Fatalf("carol's history ends with %+v", last)
	}

	// Bob mentions Carol the way a client does (inputMessageEntityMentionName);
	// the server stores messageEntityMentionName and flags Carol's copy.
	if _, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer: &tg.InputPeerChat{ChatID: chatID}, Message: "Carol: ok", RandomID: 8,
		Entities: []tg.MessageEntityClass{&tg.InputMessageEntityMentionName{Offset: 0, Length: 5,
			UserID: &tg.InputUser{UserID: carol.ID(), AccessHash: srv.AccessHash(bob.actor.ID(), carol.ID())}}},
	}); err != nil {
		t.Fatal(err)
	}
	hist = srv.History(carol.ID(), ChatPeer(chatID))
	if mn, ok := hist[len(hist)-1].Entities[0].(*tg.MessageEntityMentionName); !ok || mn.UserID != carol.ID() {
		t.Fatalf("stored entities = %+v", hist[len(hist)-1].Entities)
	}
	if !hist[len(hist)-1].Mentioned {
		t.Fatal("carol's copy is not marked mentioned")
	}

	// Deletion: IDs only, in Bob's numbering.
	if err := carol.Delete(ChatPeer(chatID), sent.ID); err != nil {
		t.Fatal(err)
	}
	del := bob.rec.wait(t, "delete", func(u tg.UpdateClass) bool { _, ok := u.(*tg.UpdateDeleteMessages); return ok }).(*tg.UpdateDeleteMessages)
	if len(del.Messages) != 1 || del.Messages[0] != gm.ID {
		t.Fatalf("deleted %v, want [%d]", del.Messages, gm.ID)
	}

	if err := carol.Rename(ChatPeer(chatID), "Family 🏡"); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "rename", actionIs[*tg.MessageActionChatEditTitle])

	if err := carol.Kick(chatID, dave.ID()); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "kick", actionIs[*tg.MessageActionChatDeleteUser])

	channelID, err := carol.Migrate(chatID)
	if err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "migrate to", actionIs[*tg.MessageActionChatMigrateTo])
	bob.rec.wait(t, "migrate from", actionIs[*tg.MessageActionChannelMigrateFrom])
	if _, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: &tg.InputPeerChat{ChatID: chatID}, Message: "old", RandomID: 6}); !tgerr.Is(err, "CHAT_WRITE_FORBIDDEN") {
		t.Fatalf("send to migrated group: err = %v", err)
	}
	fc, err := bob.client.api.ChannelsGetFullChannel(ctx, &tg.InputChannel{ChannelID: channelID, AccessHash: srv.AccessHash(bob.actor.ID(), channelID)})
	if err != nil {
		t.Fatal(err)
	}
	if cf := fc.FullChat.(*tg.ChannelFull); cf.MigratedFromChatID != chatID || cf.ParticipantsCount != 2 {
		t.Fatalf("channel full = %+v", cf)
	}
	ps, err := bob.client.api.ChannelsGetParticipants(ctx, &tg.ChannelsGetParticipantsRequest{
		Channel: &tg.InputChannel{ChannelID: channelID, AccessHash: srv.AccessHash(bob.actor.ID(), channelID)},
		Filter:  &tg.ChannelParticipantsRecent{}, Limit: 10,
	})
	if err != nil {
		t.Fatal(err)
	}
	if cp := ps.(*tg.ChannelsChannelParticipants); cp.Count != 2 || len(cp.Users) != 2 {
		t.Fatalf("participants = %+v", cp)
	}
}

// The scripted user API produces what a real app would: edits, reactions,
// typing, read receipts, media, forum topics and a broadcast channel post.
func TestScriptedActorActions(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000102"), FirstName: "Bob"})
	eveName := uniqueName("eve_test")
	eve, err := srv.CreateUser(UserSpec{Phone: ph("+33600000101"), FirstName: "Eve", Username: eveName})
	if err != nil {
		t.Fatal(err)
	}
	dm := UserPeer(bob.actor.ID())
	s, err := eve.SendText(dm, "first")
	if err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "first", isNewMessage("first"))
	if err := eve.Edit(dm, s.ID, "first (fixed)"); err != nil {
		t.Fatal(err)
	}
	edit := bob.rec.wait(t, "edit", func(u tg.UpdateClass) bool { _, ok := u.(*tg.UpdateEditMessage); return ok }).(*tg.UpdateEditMessage)
	if m := edit.Message.(*tg.Message); m.Message != "first (fixed)" || m.EditDate == 0 {
		t.Fatalf("edit = %+v", m)
	}
	if err := eve.Typing(dm, nil); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "typing", func(u tg.UpdateClass) bool {
		ty, ok := u.(*tg.UpdateUserTyping)
		return ok && ty.UserID == eve.ID()
	})
	if _, err := bob.client.api.MessagesSetTyping(ctx, &tg.MessagesSetTypingRequest{
		Peer: inputUserPeer(srv, bob.actor.ID(), eve.ID()), Action: &tg.SendMessageRecordAudioAction{},
	}); err != nil {
		t.Fatal(err)
	}
	if ev := srv.TypingEvents(bob.actor.ID()); len(ev) != 1 || ev[0].Peer != UserPeer(eve.ID()) {
		t.Fatalf("bob's typing events = %+v", ev)
	} else if _, ok := ev[0].Action.(*tg.SendMessageRecordAudioAction); !ok {
		t.Fatalf("action = %T", ev[0].Action)
	}

	// Bob's message, reacted to and read by Eve.
	res, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: inputUserPeer(srv, bob.actor.ID(), eve.ID()), Message: "ping", RandomID: 9})
	if err != nil {
		t.Fatal(err)
	}
	bobMsg := res.(*tg.UpdateShortSentMessage).ID
	eveCopy := srv.History(eve.ID(), UserPeer(bob.actor.ID()))
	eveID := eveCopy[len(eveCopy)-1].ID
	if err := eve.React(UserPeer(bob.actor.ID()), eveID, "❤"); err != nil {
		t.Fatal(err)
	}
	r := bob.rec.wait(t, "reaction", func(u tg.UpdateClass) bool { _, ok := u.(*tg.UpdateMessageReactions); return ok }).(*tg.UpdateMessageReactions)
	if r.MsgID != bobMsg || len(r.Reactions.Results) != 1 || r.Reactions.Results[0].Reaction.(*tg.ReactionEmoji).Emoticon != "❤" {
		t.Fatalf("reaction update = %+v", r)
	}
	if err := eve.Read(UserPeer(bob.actor.ID()), 0); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "read receipt", func(u tg.UpdateClass) bool {
		ro, ok := u.(*tg.UpdateReadHistoryOutbox)
		return ok && ro.MaxID == bobMsg
	})

	// Bob reacts through the API; the server records it.
	if _, err := bob.client.api.MessagesSendReaction(ctx, &tg.MessagesSendReactionRequest{
		Peer: inputUserPeer(srv, bob.actor.ID(), eve.ID()), MsgID: s.IDFor(bob.actor.ID()),
		Reaction: []tg.ReactionClass{&tg.ReactionEmoji{Emoticon: "👍"}},
	}); err != nil {
		t.Fatal(err)
	}
	if h := srv.History(eve.ID(), UserPeer(bob.actor.ID())); h[0].Reactions[bob.actor.ID()] != "👍" {
		t.Fatalf("eve's view of reactions = %+v", h[0].Reactions)
	}

	// Media from the scripted side.
	if _, err := eve.Send(dm, Message{Photo: testJPEG(t, 100, 50), Text: "pic"}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "photo", func(u tg.UpdateClass) bool { _, ok := mediaOf(u).(*tg.MessageMediaPhoto); return ok })
	if _, err := eve.Send(dm, Message{Document: []byte("RIFF....WEBPVP8 "), MimeType: "image/webp", Attributes: []tg.DocumentAttributeClass{
		&tg.DocumentAttributeSticker{Alt: "😀", Stickerset: &tg.InputStickerSetEmpty{}},
		&tg.DocumentAttributeImageSize{W: 512, H: 512},
	}}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "sticker", func(u tg.UpdateClass) bool {
		d, ok := mediaOf(u).(*tg.MessageMediaDocument)
		return ok && d.Document.(*tg.Document).MimeType == "image/webp"
	})

	// Resolve by username, then a forum with a topic.
	rp, err := bob.client.api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: "@" + strings.ToUpper(eveName)})
	if err != nil || rp.Peer.(*tg.PeerUser).UserID != eve.ID() {
		t.Fatalf("resolve username = %+v, %v", rp, err)
	}
	forum, err := eve.CreateChannel("Projects", Forum, bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	topicID, err := eve.CreateTopic(forum, "Budget")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eve.Send(ChannelPeer(forum), Message{Text: "numbers", TopicID: topicID}); err != nil {
		t.Fatal(err)
	}
	tm := bob.rec.wait(t, "topic message", isNewMessage("numbers")).(*tg.UpdateNewChannelMessage)
	if h, ok := tm.Message.(*tg.Message).ReplyTo.(*tg.MessageReplyHeader); !ok || !h.ForumTopic || h.ReplyToMsgID != topicID {
		t.Fatalf("topic reply header = %+v", tm.Message.(*tg.Message).ReplyTo)
	}
	topics, err := bob.client.api.MessagesGetForumTopics(ctx, &tg.MessagesGetForumTopicsRequest{
		Peer: &tg.InputPeerChannel{ChannelID: forum, AccessHash: srv.AccessHash(bob.actor.ID(), forum)}, Limit: 10,
	})
	if err != nil || len(topics.Topics) != 2 || topics.Topics[0].(*tg.ForumTopic).Title != "Budget" ||
		topics.Topics[1].(*tg.ForumTopic).ID != 1 || topics.Topics[1].(*tg.ForumTopic).Title != "General" {
		t.Fatalf("topics = %+v, %v", topics, err)
	}

	// Broadcast channel posts have no sender and post=true.
	news, err := eve.CreateChannel("News", Broadcast, bob.actor.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := eve.SendText(ChannelPeer(news), "headline"); err != nil {
		t.Fatal(err)
	}
	post := bob.rec.wait(t, "post", isNewMessage("headline")).(*tg.UpdateNewChannelMessage).Message.(*tg.Message)
	if !post.Post || post.FromID != nil {
		t.Fatalf("post = %+v", post)
	}
	if _, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer: &tg.InputPeerChannel{ChannelID: news, AccessHash: srv.AccessHash(bob.actor.ID(), news)}, Message: "me too", RandomID: 1,
	}); !tgerr.Is(err, "CHAT_WRITE_FORBIDDEN") {
		t.Fatalf("member posting in broadcast: err = %v", err)
	}
	if _, err := bob.client.api.ChannelsGetParticipants(ctx, &tg.ChannelsGetParticipantsRequest{
		Channel: &tg.InputChannel{ChannelID: news, AccessHash: srv.AccessHash(bob.actor.ID(), news)},
		Filter:  &tg.ChannelParticipantsRecent{}, Limit: 10,
	}); !tgerr.Is(err, "CHAT_ADMIN_REQUIRED") {
		t.Fatalf("subscriber listing broadcast members: err = %v", err)
	}
	if _, err := eve.Send(dm, Message{Photo: testJPEG(t, 10, 10), Text: strings.Repeat("x", 1025)}); err == nil || !strings.Contains(err.Error(), "MEDIA_CAPTION_TOO_LONG") {
		t.Fatalf("long caption: err = %v", err)
	}
}

func TestEchoResponder(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000112"), FirstName: "Bob"})
	echo, err := srv.CreateUser(UserSpec{Phone: ph("+33600000111"), FirstName: "Echo"})
	if err != nil {
		t.Fatal(err)
	}
	srv.SetResponder(echo.ID(), EchoResponder("echo: "))
	if _, err := bob.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: inputUserPeer(srv, bob.actor.ID(), echo.ID()), Message: "anyone?", RandomID: 1}); err != nil {
		t.Fatal(err)
	}
	bob.rec.wait(t, "echo read receipt", func(u tg.UpdateClass) bool { _, ok := u.(*tg.UpdateReadHistoryOutbox); return ok })
	reply := bob.rec.wait(t, "echo", isNewMessage("echo: anyone?")).(*tg.UpdateNewMessage).Message.(*tg.Message)
	if h, ok := reply.ReplyTo.(*tg.MessageReplyHeader); !ok || h.ReplyToMsgID != 1 {
		t.Fatalf("echo reply header = %+v", reply.ReplyTo)
	}
	srv.SetResponder(echo.ID(), nil)
}
