package tgtestserver

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/tg"
)

// managed is a client whose updates go through gotd's updates manager, the
// way a bridge consumes them (gaps → getDifference).
type managed struct {
	client  *testClient
	manager *updates.Manager
	rec     *recorder
	stop    func()
}

func startManaged(t *testing.T, srv *Server, storage *session.StorageMemory, m *updates.Manager, rec *recorder, userID int64) *managed {
	t.Helper()
	c := startClient(t, srv, storage, m)
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- m.Run(ctx, c.api, userID, updates.AuthOptions{OnStart: func(context.Context) { close(started) }})
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("manager: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("manager did not start")
	}
	stop := func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("manager stopped: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("manager did not stop")
		}
		c.stop()
	}
	return &managed{client: c, manager: m, rec: rec, stop: stop}
}

func newManager(rec *recorder) *updates.Manager {
	d := tg.NewUpdateDispatcher()
	d.OnNewMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateNewMessage) error { rec.add(u); return nil })
	d.OnNewChannelMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateNewChannelMessage) error {
		rec.add(u)
		return nil
	})
	d.OnEditMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateEditMessage) error { rec.add(u); return nil })
	d.OnDeleteMessages(func(ctx context.Context, e tg.Entities, u *tg.UpdateDeleteMessages) error { rec.add(u); return nil })
	d.OnEditChannelMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateEditChannelMessage) error {
		rec.add(u)
		return nil
	})
	d.OnDeleteChannelMessages(func(ctx context.Context, e tg.Entities, u *tg.UpdateDeleteChannelMessages) error {
		rec.add(u)
		return nil
	})
	return updates.New(updates.Config{Handler: d})
}

// A client that was offline catches up through updates.getDifference: new
// messages, an edit and a deletion (IDs only) all arrive after restart.
func TestDifferenceCatchUpAfterOffline(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice, err := srv.CreateUser(UserSpec{Phone: ph("+33600000051"), FirstName: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	bobActor, err := srv.CreateUser(UserSpec{Phone: ph("+33600000052"), FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	storage := pooledStorage(t, srv)
	login := startClient(t, srv, storage, nil)
	loginCode(ctx, t, srv, login, ph("+33600000052"))
	login.stop()

	rec := newRecorder()
	m := newManager(rec)
	bob := startManaged(t, srv, storage, m, rec, bobActor.ID())
	first, err := alice.SendText(UserPeer(bobActor.ID()), "while online")
	if err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "online message", isNewMessage("while online"))
	bob.stop()

	// Bob is offline: Alice edits and deletes what he saw, then writes more.
	// (Edits come first on purpose: gotd's manager runs other_updates through
	// its pts gap check before new_messages, so an edit whose pts lies after
	// a missed new message is dropped by gotd — see TestDifferenceShape.)
	if err := alice.Edit(UserPeer(bobActor.ID()), first.ID, "while online (edited)"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(UserPeer(bobActor.ID()), first.ID); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"missed 1", "missed 2"} {
		if _, err := alice.SendText(UserPeer(bobActor.ID()), text); err != nil {
			t.Fatal(err)
		}
	}

	// Restart with the same session and the manager's stored state.
	rec.mu.Lock()
	rec.updates = nil
	rec.mu.Unlock()
	m.Reset()
	bob2 := startManaged(t, srv, storage, m, rec, bobActor.ID())
	defer bob2.stop()
	rec.wait(t, "missed 1 via getDifference", isNewMessage("missed 1"))
	rec.wait(t, "missed 2 via getDifference", isNewMessage("missed 2"))
	rec.wait(t, "edit via getDifference", func(u tg.UpdateClass) bool {
		e, ok := u.(*tg.UpdateEditMessage)
		return ok && e.Message.(*tg.Message).Message == "while online (edited)"
	})
	del := rec.wait(t, "delete via getDifference", func(u tg.UpdateClass) bool {
		_, ok := u.(*tg.UpdateDeleteMessages)
		return ok
	}).(*tg.UpdateDeleteMessages)
	if len(del.Messages) != 1 || del.Messages[0] != first.IDFor(bobActor.ID()) {
		t.Fatalf("deleted %v, want bob's copy %d", del.Messages, first.IDFor(bobActor.ID()))
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, u := range rec.updates {
		if isNewMessage("while online")(u) {
			t.Fatal("already-seen message delivered again")
		}
	}
}

// getDifference has Telegram's shape: new messages still there in
// new_messages, other pts events (edits, deletions with IDs only, read
// receipts) in other_updates with their own pts, and the state to continue
// from.
func TestDifferenceShape(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000072"), FirstName: "Bob"})
	alice, err := srv.CreateUser(UserSpec{Phone: ph("+33600000071"), FirstName: "Alice"})
	if err != nil {
		t.Fatal(err)
	}
	dm := UserPeer(bob.actor.ID())
	m1, _ := alice.SendText(dm, "one")
	if _, err := alice.SendText(dm, "two"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Edit(dm, m1.ID, "one!"); err != nil {
		t.Fatal(err)
	}
	if err := alice.Delete(dm, m1.ID); err != nil {
		t.Fatal(err)
	}
	diff, err := bob.client.api.UpdatesGetDifference(ctx, &tg.UpdatesGetDifferenceRequest{Pts: 0, Date: 0})
	if err != nil {
		t.Fatal(err)
	}
	d := diff.(*tg.UpdatesDifference)
	// The deleted message is gone from new_messages (its edit and deletion stay), as on Telegram.
	if len(d.NewMessages) != 1 || len(d.OtherUpdates) != 2 || d.State.Pts != 4 || d.State.Pts != srv.Pts(bob.actor.ID()) {
		t.Fatalf("difference: %d new, %d other, state %+v", len(d.NewMessages), len(d.OtherUpdates), d.State)
	}
	if m, ok := d.NewMessages[0].(*tg.Message); !ok || m.Message != "two" {
		t.Fatalf("new message %+v, want the one left", d.NewMessages[0])
	}
	if e, ok := d.OtherUpdates[0].(*tg.UpdateEditMessage); !ok || e.Pts != 3 {
		t.Fatalf("other[0] = %+v", d.OtherUpdates[0])
	}
	if del, ok := d.OtherUpdates[1].(*tg.UpdateDeleteMessages); !ok || del.Pts != 4 || del.Messages[0] != m1.IDFor(bob.actor.ID()) {
		t.Fatalf("other[1] = %+v", d.OtherUpdates[1])
	}
	if len(d.Users) == 0 {
		t.Fatal("difference lacks the senders")
	}
	empty, err := bob.client.api.UpdatesGetDifference(ctx, &tg.UpdatesGetDifferenceRequest{Pts: d.State.Pts, Date: d.State.Date})
	if _, ok := empty.(*tg.UpdatesDifferenceEmpty); err != nil || !ok {
		t.Fatalf("difference at current state = %T, %v", empty, err)
	}
}

// Supergroup messages carry channel pts; the sender gets
// updates{updateMessageID, updateNewChannelMessage}; a member catches up
// with getChannelDifference.
func TestChannelPtsAndChannelDifference(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	alice := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000061"), FirstName: "Alice"})
	bob := newLoggedIn(ctx, t, srv, UserSpec{Phone: ph("+33600000062"), FirstName: "Bob"})

	created, err := alice.client.api.ChannelsCreateChannel(ctx, &tg.ChannelsCreateChannelRequest{Megagroup: true, Title: "Ops"})
	if err != nil {
		t.Fatalf("create channel: %v", err)
	}
	var ch *tg.Channel
	for _, c := range created.(*tg.Updates).Chats {
		if c, ok := c.(*tg.Channel); ok {
			ch = c
		}
	}
	if ch == nil || !ch.Megagroup || !ch.Creator {
		t.Fatalf("created chats = %+v", created.(*tg.Updates).Chats)
	}
	in := &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}
	if _, err := alice.client.api.ChannelsInviteToChannel(ctx, &tg.ChannelsInviteToChannelRequest{
		Channel: in,
		Users:   []tg.InputUserClass{&tg.InputUser{UserID: bob.actor.ID(), AccessHash: srv.AccessHash(alice.actor.ID(), bob.actor.ID())}},
	}); err != nil {
		t.Fatalf("invite: %v", err)
	}
	res, err := alice.client.api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
		Peer: &tg.InputPeerChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}, Message: "standup at 10", RandomID: 777,
	})
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	ups := res.(*tg.Updates).Updates
	idu, ok1 := ups[0].(*tg.UpdateMessageID)
	ncm, ok2 := ups[1].(*tg.UpdateNewChannelMessage)
	if !ok1 || !ok2 || idu.RandomID != 777 || idu.ID != ncm.Message.GetID() {
		t.Fatalf("send result = %+v", ups)
	}
	got := bob.rec.wait(t, "channel message push", isNewMessage("standup at 10")).(*tg.UpdateNewChannelMessage)
	if got.Pts != ncm.Pts || got.Pts != srv.ChannelPts(ch.ID) {
		t.Fatalf("bob pts %d, sender pts %d, channel pts %d", got.Pts, ncm.Pts, srv.ChannelPts(ch.ID))
	}
	if m := got.Message.(*tg.Message); m.Out || m.FromID.(*tg.PeerUser).UserID != alice.actor.ID() {
		t.Fatalf("bob's view = %+v", m)
	}

	// Bob's client with his own access hash for the channel.
	bobIn := &tg.InputChannel{ChannelID: ch.ID, AccessHash: srv.AccessHash(bob.actor.ID(), ch.ID)}
	if _, err := bob.client.api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
		Channel: &tg.InputChannel{ChannelID: ch.ID, AccessHash: ch.AccessHash}, Filter: &tg.ChannelMessagesFilterEmpty{}, Pts: 1, Limit: 10,
	}); err == nil {
		t.Fatal("alice's access hash accepted for bob: want CHANNEL_INVALID")
	}
	diff, err := bob.client.api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
		Channel: bobIn, Filter: &tg.ChannelMessagesFilterEmpty{}, Pts: 1, Limit: 100,
	})
	if err != nil {
		t.Fatalf("channel difference: %v", err)
	}
	cd := diff.(*tg.UpdatesChannelDifference)
	if cd.Pts != srv.ChannelPts(ch.ID) || !cd.Final || len(cd.NewMessages) != 2 {
		t.Fatalf("channel difference = pts %d final %v msgs %d", cd.Pts, cd.Final, len(cd.NewMessages))
	}
	empty, err := bob.client.api.UpdatesGetChannelDifference(ctx, &tg.UpdatesGetChannelDifferenceRequest{
		Channel: bobIn, Filter: &tg.ChannelMessagesFilterEmpty{}, Pts: cd.Pts, Limit: 100,
	})
	if _, ok := empty.(*tg.UpdatesChannelDifferenceEmpty); err != nil || !ok {
		t.Fatalf("difference at current pts = %T, %v", empty, err)
	}

	// Channel deletions carry the channel and bump its pts.
	before := srv.ChannelPts(ch.ID)
	aff, err := alice.client.api.ChannelsDeleteMessages(ctx, &tg.ChannelsDeleteMessagesRequest{Channel: in, ID: []int{ncm.Message.GetID()}})
	if err != nil || aff.Pts != before+1 {
		t.Fatalf("delete = %+v, %v", aff, err)
	}
	bob.rec.wait(t, "channel delete", func(u tg.UpdateClass) bool {
		d, ok := u.(*tg.UpdateDeleteChannelMessages)
		return ok && d.ChannelID == ch.ID && d.Messages[0] == ncm.Message.GetID()
	})
}

var _ telegram.UpdateHandler = (*updates.Manager)(nil)

// A member who was offline while a supergroup moved gets
// updateChannelTooLong from getDifference and gotd's manager fetches the
// channel difference: nothing posted meanwhile is lost.
func TestChannelCatchUpAfterOffline(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	carol, err := srv.CreateUser(UserSpec{Phone: ph("1"), FirstName: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	bobActor, err := srv.CreateUser(UserSpec{Phone: ph("2"), FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	storage := pooledStorage(t, srv)
	login := startClient(t, srv, storage, nil)
	loginCode(ctx, t, srv, login, ph("2"))
	login.stop()

	rec := newRecorder()
	m := newManager(rec)
	bob := startManaged(t, srv, storage, m, rec, bobActor.ID())
	chID, err := carol.CreateChannel("Ops", Supergroup, bobActor.ID())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := carol.SendText(ChannelPeer(chID), "online post"); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "online post", isNewMessage("online post"))
	bob.stop()

	for _, text := range []string{"offline 1", "offline 2"} {
		if _, err := carol.SendText(ChannelPeer(chID), text); err != nil {
			t.Fatal(err)
		}
	}
	rec.mu.Lock()
	rec.updates = nil
	rec.mu.Unlock()
	m.Reset()
	bob2 := startManaged(t, srv, storage, m, rec, bobActor.ID())
	defer bob2.stop()
	rec.wait(t, "offline 1", isNewMessage("offline 1"))
	rec.wait(t, "offline 2", isNewMessage("offline 2"))
}

// A bridge that reconnects many times (new session ID each time) still gets
// pushes on its live session, and the server keeps only a few old sessions.
func TestPushesReachLiveSessionAfterReconnects(t *testing.T) {
	srv := sharedServer(t)
	ctx := testCtx(t)
	ph := phonesFor(t)
	me, err := srv.CreateUser(UserSpec{Phone: ph("1"), FirstName: "Me"})
	if err != nil {
		t.Fatal(err)
	}
	eve, err := srv.CreateUser(UserSpec{Phone: ph("2"), FirstName: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	storage := pooledStorage(t, srv)
	c := startClient(t, srv, storage, nil)
	loginCode(ctx, t, srv, c, ph("1"))
	c.stop()
	for i := 0; i < maxSessionsPerKey+2; i++ {
		c := startClient(t, srv, storage, nil)
		if _, err := c.api.UpdatesGetState(ctx); err != nil {
			t.Fatal(err)
		}
		c.stop()
	}
	if n := srv.ConnectedSessions(me.ID()); n > maxSessionsPerKey {
		t.Fatalf("%d sessions remembered, want at most %d", n, maxSessionsPerKey)
	}
	rec := newRecorder()
	live := startClient(t, srv, storage, telegram.UpdateHandlerFunc(rec.Handle))
	if _, err := live.api.UpdatesGetState(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := eve.SendText(UserPeer(me.ID()), "still there?"); err != nil {
		t.Fatal(err)
	}
	rec.wait(t, "push on the live session", isNewMessage("still there?"))
}
