package importer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/portal"
)

// tgMsg builds one message of a Telegram Desktop export.
func tgMsg(msgID int, unix int64, fromID int64, from, text string, extra map[string]any) map[string]any {
	m := map[string]any{
		"id": msgID, "type": "message",
		"date": time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05"), "date_unixtime": fmt.Sprint(unix),
		"from": from, "from_id": fmt.Sprintf("user%d", fromID),
		"text": text, "text_entities": []map[string]string{{"type": "plain", "text": text}},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// writeTG writes a one-chat Telegram export into a new folder and returns it.
func writeTG(t testing.TB, name, typ string, chatID int64, msgs []map[string]any, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	raw, err := json.MarshalIndent(map[string]any{"name": name, "type": typ, "id": chatID, "messages": msgs}, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err = os.WriteFile(filepath.Join(dir, "result.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	for rel, data := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err = os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err = os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (h *harness) run(req *Request) *Summary {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(h.ctx, 2*time.Minute)
	defer cancel()
	if req.FileName == "" {
		req.FileName = "result.json"
	}
	sum, err := h.im.Run(ctx, req)
	if err != nil {
		h.t.Fatalf("import: %v", err)
	}
	return sum
}

func TestEngine(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, engine)
			t.Run("TelegramDMBecomesPortal", func(t *testing.T) { testDMBecomesPortal(t, h) })
			t.Run("ExistingPortalGetsArchive", func(t *testing.T) { testExistingPortalGetsArchive(t, h) })
			t.Run("WhatsAppContactsAndGroupPortal", func(t *testing.T) { testWhatsAppContacts(t, h) })
			t.Run("TooLargeMediaBecomesNotice", func(t *testing.T) { testTooLargeMedia(t, h) })
			t.Run("InterruptedImportResumes", func(t *testing.T) { testInterruptedResumes(t, h) })
			t.Run("AccountExportManyChats", func(t *testing.T) { testAccountExport(t, h) })
			t.Run("Endpoint", func(t *testing.T) { testEndpoint(t, h) })
			t.Run("OwnMessagesDoublePuppeted", func(t *testing.T) { testDoublePuppet(t, h) })
			t.Run("EncryptedRoomGetsNoPlaintext", func(t *testing.T) { testEncryptedRoomGetsNoPlaintext(t, h) })
		})
	}
}

// A personal chat without a portal becomes the portal (DM, receiver = the login), the user's own
// messages come from their ghost (no double puppeting configured), and the messages land in
// bridgev2's message table under the IDs the live connector uses.
func testDMBecomesPortal(t *testing.T, h *harness) {
	cli, u := h.newUser("dm")
	const self, bob = 9001, 5000
	login := h.login(u, portal.TGLoginID(self), "Me")
	dir := writeTG(t, "Bob", "personal_chat", bob, []map[string]any{
		tgMsg(10, 1700000000, bob, "Bob", "Salut", nil),
		tgMsg(11, 1700000060, self, "Me", "Bonjour Bob", map[string]any{"reply_to_message_id": 10}),
		tgMsg(12, 1700000120, bob, "Bob", "Ça va ?", nil),
	}, nil)
	sum := h.run(&Request{User: u, Network: portal.Telegram, Path: dir})
	if sum.Imported != 3 || len(sum.Rooms) != 1 || sum.Rooms[0].Kind != KindPortal {
		t.Fatalf("summary = %+v, want 3 imported into a new portal", sum)
	}
	key := networkid.PortalKey{ID: portal.TGPortalID(portal.TGPeer{Kind: portal.TGUser, ID: bob}, 0), Receiver: login.ID}
	p, err := h.br.GetExistingPortalByKey(h.ctx, key)
	if err != nil || p == nil || p.MXID != sum.Rooms[0].RoomID || p.RoomType != database.RoomTypeDM {
		t.Fatalf("portal %v = %+v, %v; want the imported DM room %s", key, p, err, sum.Rooms[0].RoomID)
	}
	evts := timeline(t, cli, p.MXID, 3)
	var msgs []*event.Event
	for _, e := range evts {
		if e.Type == event.EventMessage {
			msgs = append(msgs, e)
		}
	}
	if len(msgs) != 3 {
		t.Fatalf("portal has %d messages, want 3", len(msgs))
	}
	wantSenders := []networkid.UserID{"tg.5000", "tg.9001", "tg.5000"}
	for i, m := range msgs {
		if m.Sender != ghostMXID(wantSenders[i]) {
			t.Errorf("message %d from %s, want %s", i, m.Sender, ghostMXID(wantSenders[i]))
		}
		if m.Timestamp != (1700000000+int64(i)*60)*1000 {
			t.Errorf("message %d ts %d", i, m.Timestamp)
		}
	}
	if got := msgs[1].Content.AsMessage().RelatesTo.GetReplyTo(); got != msgs[0].ID {
		t.Errorf("reply points at %s, want %s", got, msgs[0].ID)
	}
	for i, msgID := range []int{10, 11, 12} {
		row, err := h.br.DB.Message.GetFirstPartByID(h.ctx, login.ID, portal.TGMessageID(portal.TGPeer{Kind: portal.TGUser, ID: self}, msgID))
		if err != nil || row == nil || row.MXID != msgs[i].ID {
			t.Errorf("message table row for %d = %+v, %v; want event %s", msgID, row, err, msgs[i].ID)
		}
	}
	// Running again: nothing new, same portal.
	again := h.run(&Request{User: u, Network: portal.Telegram, Path: dir})
	if again.Imported != 0 || again.Skipped != 3 || again.Rooms[0].RoomID != p.MXID {
		t.Fatalf("second run = %+v", again)
	}
}

// A chat whose portal exists gets an archive room linked from the portal.
func testExistingPortalGetsArchive(t *testing.T, h *harness) {
	cli, u := h.newUser("arch")
	login := h.login(u, portal.TGLoginID(9002), "Me")
	group := portal.TGPeer{Kind: portal.TGChannel, ID: 777}
	p, err := h.br.GetPortalByKey(h.ctx, networkid.PortalKey{ID: portal.TGPortalID(group, 0)})
	if err != nil {
		t.Fatal(err)
	}
	name := "Live group"
	err = p.CreateMatrixRoom(h.ctx, login, &bridgev2.ChatInfo{Name: &name, Members: &bridgev2.ChatMemberList{MemberMap: bridgev2.ChatMemberMap{
		"tg.9002": {EventSender: bridgev2.EventSender{IsFromMe: true, SenderLogin: login.ID, Sender: "tg.9002"}, Membership: event.MembershipJoin},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	dir := writeTG(t, "Old name", "private_supergroup", 777, []map[string]any{
		tgMsg(1, 1600000000, 42, "Zoé", "Premier message", nil),
		tgMsg(2, 1600000100, 9002, "Me", "Réponse", nil),
	}, nil)
	sum := h.run(&Request{User: u, Network: portal.Telegram, Path: dir})
	if sum.Imported != 2 || sum.Rooms[0].Kind != KindArchive || sum.Rooms[0].RoomID == p.MXID {
		t.Fatalf("summary = %+v; want an archive room apart from portal %s", sum, p.MXID)
	}
	archive := sum.Rooms[0].RoomID
	if _, err = cli.JoinRoomByID(h.ctx, p.MXID); err != nil {
		t.Fatal(err)
	}
	var child event.SpaceChildEventContent
	if err = cli.StateEvent(h.ctx, p.MXID, event.StateSpaceChild, string(archive), &child); err != nil || len(child.Via) == 0 {
		t.Errorf("portal has no m.space.child for %s: %+v, %v", archive, child, err)
	}
	notice := false
	for _, e := range timeline(t, cli, p.MXID, 1) {
		if msg := e.Content.AsMessage(); e.Type == event.EventMessage && msg.MsgType == event.MsgNotice && strings.Contains(msg.Body, string(archive)) {
			notice = true
		}
	}
	if !notice {
		t.Error("no notice in the portal pointing at the archive room")
	}
	evts := timeline(t, cli, archive, 2)
	if len(evts) != 2 || evts[0].Sender != ghostMXID("tg.42") || evts[1].Sender != ghostMXID("tg.9002") {
		t.Fatalf("archive timeline = %d events (%v)", len(evts), evts)
	}
	var parent event.SpaceParentEventContent
	if err = cli.StateEvent(h.ctx, archive, event.StateSpaceParent, string(p.MXID), &parent); err != nil {
		t.Errorf("archive has no m.space.parent: %v", err)
	}
}

// WhatsApp senders named in the export are matched through the login's contacts; the person
// importing is matched by --me; an unknown name gets an imported ghost; --chat with a group JID
// makes a group portal without receiver.
func testWhatsAppContacts(t *testing.T, h *harness) {
	cli, u := h.newUser("wa")
	jonasName := "Jonas Weber"
	h.login(u, "wa.33600000001", "Alice Martin", &bridgev2.ResolveIdentifierResponse{
		UserID: "wa.4915112345678", UserInfo: &bridgev2.UserInfo{Name: &jonasName},
	}, &bridgev2.ResolveIdentifierResponse{UserID: "tg.1", UserInfo: &bridgev2.UserInfo{Name: &jonasName}})
	txt := "31/12/2023, 21:41 - Jonas Weber: Guten Rutsch!\n" +
		"31/12/2023, 21:42 - Alice Martin: Merci !\n" +
		"31/12/2023, 21:43 - Oncle Paul: Et moi ?\n" +
		"31/12/2023, 21:44 - +49 151 12345678: Nummer\n"
	p := filepath.Join(t.TempDir(), "WhatsApp Chat with Famille.txt")
	if err := os.WriteFile(p, []byte(txt), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := h.run(&Request{User: u, Network: portal.WhatsApp, Path: p, FileName: filepath.Base(p), Chat: "120363025246125888@g.us"})
	if sum.Imported != 4 || sum.Rooms[0].Kind != KindPortal {
		t.Fatalf("summary = %+v", sum)
	}
	pt, err := h.br.GetExistingPortalByKey(h.ctx, networkid.PortalKey{ID: "wa.120363025246125888@g.us"})
	if err != nil || pt == nil || pt.MXID != sum.Rooms[0].RoomID || pt.Name != "Famille" {
		t.Fatalf("group portal = %+v, %v", pt, err)
	}
	evts := timeline(t, cli, pt.MXID, 4)
	var senders []id.UserID
	for _, e := range evts {
		if e.Type == event.EventMessage {
			senders = append(senders, e.Sender)
		}
	}
	want := []id.UserID{
		ghostMXID("wa.4915112345678"),
		ghostMXID("wa.33600000001"),
		ghostMXID(portal.ImportedUserID(portal.WhatsApp, string(u.MXID), "Oncle Paul")),
		ghostMXID("wa.4915112345678"),
	}
	if fmt.Sprint(senders) != fmt.Sprint(want) {
		t.Errorf("senders = %v\nwant      %v", senders, want)
	}
}

// An attachment above the upload limit becomes a notice in its place, with the caption.
func testTooLargeMedia(t *testing.T, h *harness) {
	cli, u := h.newUser("big")
	big := make([]byte, 4096)
	dir := writeTG(t, "Gros fichier", "private_supergroup", 4242, []map[string]any{
		tgMsg(1, 1650000000, 7, "Léa", "Le plan", map[string]any{"file": "files/plan.pdf", "file_name": "plan.pdf", "mime_type": "application/pdf", "file_size": len(big)}),
		tgMsg(2, 1650000001, 7, "Léa", "Petit", map[string]any{"file": "files/small.txt", "file_name": "small.txt", "mime_type": "text/plain"}),
	}, map[string][]byte{"files/plan.pdf": big, "files/small.txt": []byte("hello")})
	h.im.MaxUploadSize = 1024
	defer func() { h.im.MaxUploadSize = 0 }()
	sum := h.run(&Request{User: u, Network: portal.Telegram, Path: dir})
	if sum.Imported != 2 || sum.Failed != 0 {
		t.Fatalf("summary = %+v", sum)
	}
	evts := timeline(t, cli, sum.Rooms[0].RoomID, 2)
	first, second := evts[0].Content.AsMessage(), evts[1].Content.AsMessage()
	if first.MsgType != event.MsgNotice || !strings.Contains(first.Body, "Le plan") || !strings.Contains(first.Body, "plan.pdf not imported: larger than the homeserver's upload limit of 1.0 KiB") {
		t.Errorf("too large file became %s %q", first.MsgType, first.Body)
	}
	if second.MsgType != event.MsgFile || second.URL == "" || second.FileName != "small.txt" || second.Body != "Petit" {
		t.Errorf("small file became %+v", second)
	}
}

// An import stopped half-way continues where it stopped, in the same room, without duplicates.
func testInterruptedResumes(t *testing.T, h *harness) {
	cli, u := h.newUser("resume")
	var msgs []map[string]any
	for i := 1; i <= 12; i++ {
		msgs = append(msgs, tgMsg(i, 1500000000+int64(i), 100+int64(i%3), fmt.Sprint("P", i%3), fmt.Sprint("message ", i), nil))
	}
	dir := writeTG(t, "Reprise", "private_supergroup", 3131, msgs, nil)
	stop, cancel := context.WithCancel(context.Background())
	first := h.run(&Request{User: u, Network: portal.Telegram, Path: dir, Stop: stop, Progress: func(p Progress) {
		if p.Done >= 5 {
			cancel()
		}
	}})
	if first.Stopped == "" || first.Imported < 5 || first.Imported >= 12 {
		t.Fatalf("interrupted run = %+v, want it stopped after about 5", first)
	}
	second := h.run(&Request{User: u, Network: portal.Telegram, Path: dir})
	if second.Skipped != first.Imported || second.Imported != 12-first.Imported || second.Rooms[0].RoomID != first.Rooms[0].RoomID {
		t.Fatalf("resumed run = %+v after %+v", second, first)
	}
	evts := timeline(t, cli, first.Rooms[0].RoomID, 12)
	if len(evts) != 12 {
		t.Fatalf("room has %d messages, want 12", len(evts))
	}
	for i, e := range evts {
		if body := e.Content.AsMessage().Body; body != fmt.Sprint("message ", i+1) {
			t.Errorf("message %d is %q", i+1, body)
		}
	}
}

// A whole-account export imports each chat into its own room.
func testAccountExport(t *testing.T, h *harness) {
	_, u := h.newUser("acct")
	sum := h.run(&Request{User: u, Network: portal.Telegram, Path: "tgexport/testdata/account"})
	if sum.Imported != 4 || len(sum.Rooms) != 3 {
		t.Fatalf("summary = %+v, want 4 messages in 3 rooms", sum)
	}
	names := map[string]bool{}
	rooms := map[id.RoomID]bool{}
	for _, r := range sum.Rooms {
		names[r.Chat] = true
		rooms[r.RoomID] = true
		if r.Kind != KindStandalone || !strings.Contains(r.Note, "no Telegram login") {
			t.Errorf("room %+v: want standalone with the reason", r)
		}
	}
	if !names["Bastien Roux"] || !names["Saved Messages"] || !names["Ancien groupe"] || len(rooms) != 3 {
		t.Errorf("rooms = %+v", sum.Rooms)
	}
}

// The CLI's endpoint checks the shared secret and the request before reading the upload, then
// streams progress and the summary.
func testEndpoint(t *testing.T, h *harness) {
	_, u := h.newUser("http")
	secret := h.mc.Config.Provisioning.SharedSecret
	export := `{"name": "G", "type": "private_supergroup", "id": 5151, "messages": [
		{"id": 1, "type": "message", "date": "2023-01-01T00:00:00", "date_unixtime": "1672531200", "from": "A", "from_id": "user1", "text": "one", "text_entities": []},
		{"id": 2, "type": "message", "date": "2023-01-01T00:00:01", "date_unixtime": "1672531201", "from": "A", "from_id": "user1", "text": "two", "text_entities": []}]}`
	post := func(auth, query string) (int, []Event) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, h.base+ImportPath+"?"+query, strings.NewReader(export))
		if err != nil {
			t.Fatal(err)
		}
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var events []Event
		dec := json.NewDecoder(resp.Body)
		for {
			var e Event
			if err := dec.Decode(&e); err != nil {
				break
			}
			events = append(events, e)
		}
		return resp.StatusCode, events
	}
	good := "user_id=" + url.QueryEscape(string(u.MXID)) + "&network=telegram&filename=result.json"
	cases := []struct {
		name, auth, query string
		status            int
		err               string
	}{
		{"no secret", "", good, http.StatusUnauthorized, "shared secret"},
		{"wrong secret", "nope-nope-nope-nope", good, http.StatusUnauthorized, "shared secret"},
		{"bad user", secret, "user_id=alice&network=telegram", http.StatusBadRequest, "user_id"},
		{"bad network", secret, "user_id=" + url.QueryEscape(string(u.MXID)) + "&network=irc", http.StatusBadRequest, "irc"},
		{"user without permission", secret, "user_id=" + url.QueryEscape("@x:elsewhere.example") + "&network=telegram", http.StatusForbidden, "may not use this bridge"},
	}
	for _, tc := range cases {
		status, events := post(tc.auth, tc.query)
		if status != tc.status || len(events) != 1 || !strings.Contains(events[0].Error, tc.err) {
			t.Errorf("%s: HTTP %d %+v, want %d with %q", tc.name, status, events, tc.status, tc.err)
		}
	}
	status, events := post(secret, good)
	if status != http.StatusOK || len(events) < 2 {
		t.Fatalf("import: HTTP %d %+v", status, events)
	}
	last := events[len(events)-1]
	if last.Summary == nil || last.Summary.Imported != 2 || events[0].Progress == nil || events[0].Progress.Total != 2 {
		t.Fatalf("answer = %+v", events)
	}
}

// With double puppeting, the importing person's own messages are sent as them.
func testDoublePuppet(t *testing.T, h *harness) {
	cli, u := h.newUser("dp")
	h.login(u, portal.TGLoginID(9300), "Me")
	dir := writeTG(t, "DP group", "private_supergroup", 9393, []map[string]any{
		tgMsg(1, 1690000000, 9301, "Other", "from someone else", nil),
		tgMsg(2, 1690000060, 9300, "Me", "from me", nil),
	}, nil)
	sum := h.run(&Request{User: u, Network: portal.Telegram, Path: dir})
	if sum.Imported != 2 {
		t.Fatalf("summary = %+v", sum)
	}
	var msgs []*event.Event
	for _, e := range timeline(t, cli, sum.Rooms[0].RoomID, 2) {
		if e.Type == event.EventMessage {
			msgs = append(msgs, e)
		}
	}
	if len(msgs) != 2 || msgs[0].Sender != ghostMXID("tg.9301") || msgs[1].Sender != u.MXID {
		t.Fatalf("senders: %v; want the ghost then %s itself", msgs, u.MXID)
	}
	if msgs[1].Timestamp != 1690000060000 {
		t.Errorf("double-puppeted message ts %d, want the export's", msgs[1].Timestamp)
	}
}
