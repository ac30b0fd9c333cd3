package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/importer"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/portal"
)

// TestImport imports a Telegram export with `passerelle import` and a WhatsApp export with the
// management-room `import` command into Dendrite through the bridge, on each database engine, and
// checks order, timestamps, senders, media, replies, and that a second run imports nothing.
func TestImport(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			br := bridgetest.New(t, bridgetest.Options{Binary: passerelleBin, Engine: engine, DisableEncryption: true, LogLevel: "info"})
			t.Run("TelegramCLI", func(t *testing.T) { testImportTelegramCLI(t, br) })
			t.Run("TelegramBadInput", func(t *testing.T) { testImportTelegramBadInput(t, br) })
			t.Run("WhatsAppCommand", func(t *testing.T) { testImportWhatsAppCommand(t, br) })
		})
	}
}

// tgExport is a one-chat Telegram Desktop export: a supergroup with a service message,
// formatting, a reply to an edited message, a photo, a missing video, a location and polls.
const tgExport = `{
 "name": "Atelier Vélo",
 "type": "private_supergroup",
 "id": 1876543210,
 "messages": [
  {"id": 1, "type": "service", "date": "2023-12-30T11:00:00", "date_unixtime": "1703934000",
   "actor": "Camille Durand", "actor_id": "user111111", "action": "create_group", "title": "Atelier Vélo",
   "members": ["Camille Durand", "Bastien Roux"], "text": "", "text_entities": []},
  {"id": 2, "type": "message", "date": "2023-12-30T11:01:00", "date_unixtime": "1703934060",
   "from": "Camille Durand", "from_id": "user111111",
   "text": ["Rendez-vous ", {"type": "bold", "text": "samedi"}, " <10h>"],
   "text_entities": [{"type": "plain", "text": "Rendez-vous "}, {"type": "bold", "text": "samedi"}, {"type": "plain", "text": " <10h>"}]},
  {"id": 3, "type": "message", "date": "2023-12-30T11:02:00", "date_unixtime": "1703934120",
   "edited": "2023-12-30T11:05:00", "edited_unixtime": "1703934300",
   "from": "Bastien Roux", "from_id": "user222222", "reply_to_message_id": 2,
   "text": "J'apporte les outils", "text_entities": [{"type": "plain", "text": "J'apporte les outils"}]},
  {"id": 4, "type": "message", "date": "2023-12-30T11:06:00", "date_unixtime": "1703934360",
   "from": "Camille Durand", "from_id": "user111111",
   "photo": "photos/photo_1@30-12-2023_11-06-00.jpg", "photo_file_size": 100, "width": 4, "height": 3,
   "text": "Le vélo", "text_entities": [{"type": "plain", "text": "Le vélo"}]},
  {"id": 5, "type": "message", "date": "2023-12-30T11:07:00", "date_unixtime": "1703934420",
   "from": "Bastien Roux", "from_id": "user222222",
   "file": "(File not included. Change data exporting settings to download.)", "file_name": "trajet.mov",
   "media_type": "video_file", "mime_type": "video/quicktime", "duration_seconds": 12,
   "text": "", "text_entities": []},
  {"id": 6, "type": "message", "date": "2023-12-30T11:08:00", "date_unixtime": "1703934480",
   "from": "Bastien Roux", "from_id": "user222222",
   "location_information": {"latitude": 45.764043, "longitude": 4.835659}, "text": "", "text_entities": []},
  {"id": 7, "type": "message", "date": "2023-12-30T11:09:00", "date_unixtime": "1703934540",
   "from": "Camille Durand", "from_id": "user111111",
   "poll": {"question": "Quel jour ?", "closed": false, "total_voters": 3,
    "answers": [{"text": "Samedi", "voters": 2, "chosen": true}, {"text": "Dimanche", "voters": 1, "chosen": false}]},
   "text": "", "text_entities": []}
 ]
}`

// tgWant is what the room must show, in order.
var tgWant = []struct {
	unix    int64
	from    string // ghost ID
	evtType event.Type
	msgType event.MessageType
	body    string // substring
	replyTo int    // index into tgWant + 1, 0 for none
}{
	{1703934000, "tg.111111", event.EventMessage, event.MsgNotice, "Camille Durand created the group «Atelier Vélo»", 0},
	{1703934060, "tg.111111", event.EventMessage, event.MsgText, "Rendez-vous samedi <10h>", 0},
	{1703934120, "tg.222222", event.EventMessage, event.MsgText, "J'apporte les outils (edited", 2},
	{1703934360, "tg.111111", event.EventMessage, event.MsgImage, "Le vélo", 0},
	{1703934420, "tg.222222", event.EventMessage, event.MsgNotice, "trajet.mov not imported", 0},
	{1703934480, "tg.222222", event.EventMessage, event.MsgLocation, "openstreetmap.org/?mlat=45.764043&mlon=4.835659", 0},
	{1703934540, "tg.111111", event.EventUnstablePollStart, "", "Poll: Quel jour ?\n• Samedi — 2 votes", 0},
}

func testPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{R: 200, A: 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeTelegramExport(t *testing.T, dir string, photo []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, "photos"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "result.json"), []byte(tgExport), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "photos", "photo_1@30-12-2023_11-06-00.jpg"), photo, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runImportCLI runs `passerelle import … --json` against the test bridge.
func runImportCLI(t *testing.T, br *bridgetest.Bridge, args ...string) (*importer.Summary, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, passerelleBin, append([]string{"import"}, append(args, "-c", br.ConfigPath, "--json", "--plain")...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("run passerelle import: %v", err)
	}
	if code != 0 {
		return nil, stderr.String(), code
	}
	var sum importer.Summary
	if err = json.Unmarshal(stdout.Bytes(), &sum); err != nil {
		t.Fatalf("passerelle import printed %q: %v (stderr: %s)", stdout.String(), err, stderr.String())
	}
	return &sum, stderr.String(), code
}

// ghostMXID is the Matrix ID of a ghost, from the bridge's username template.
func ghostMXID(t *testing.T, br *bridgetest.Bridge, ghost string) id.UserID {
	t.Helper()
	cfg, err := bridgetest.ReadConfig(br.ConfigPath)
	if err != nil {
		t.Fatal(err)
	}
	tpl := cfg.String("appservice", "username_template")
	return hstest.UserID(strings.ReplaceAll(tpl, "{{.}}", id.EncodeUserLocalpart(ghost)))
}

// roomTimeline joins the room and returns its messages (not state), oldest first, once at least
// want are visible: Dendrite's /messages lags the roomserver a little after a join.
func roomTimeline(t *testing.T, cli *mautrix.Client, room id.RoomID, want int) []*event.Event {
	t.Helper()
	ctx := context.Background()
	if _, err := cli.JoinRoomByID(ctx, room); err != nil {
		t.Fatalf("%s joins %s: %v", cli.UserID, room, err)
	}
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	for {
		resp, err := cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, 1000)
		if err != nil {
			t.Fatalf("read %s: %v", room, err)
		}
		var out []*event.Event
		for i := len(resp.Chunk) - 1; i >= 0; i-- {
			evt := resp.Chunk[i]
			if evt.StateKey != nil || evt.Type == event.EventReaction {
				continue
			}
			_ = evt.Content.ParseRaw(evt.Type)
			out = append(out, evt)
		}
		if len(out) >= want || time.Now().After(deadline) {
			return out
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// settledTimeline is roomTimeline read twice a second apart, so that a message added late (a
// duplicate from a second run) is seen too.
func settledTimeline(t *testing.T, cli *mautrix.Client, room id.RoomID, want int) []*event.Event {
	t.Helper()
	roomTimeline(t, cli, room, want)
	time.Sleep(time.Second)
	return roomTimeline(t, cli, room, want)
}

func testImportTelegramCLI(t *testing.T, br *bridgetest.Bridge) {
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgimport"))
	dir := t.TempDir()
	photo := testPNG(t)
	writeTelegramExport(t, dir, photo)

	sum, stderr, code := runImportCLI(t, br, "telegram", dir, "--user", string(user.UserID))
	if code != 0 {
		t.Fatalf("passerelle import exited %d: %s\nbridge log:\n%s", code, stderr, br.LogTail(30))
	}
	if sum.Imported != len(tgWant) || sum.Skipped != 0 || sum.Failed != 0 || len(sum.Rooms) != 1 {
		t.Fatalf("first run summary = %+v, want %d imported", sum, len(tgWant))
	}
	room := sum.Rooms[0].RoomID
	if sum.Rooms[0].Kind != importer.KindStandalone {
		t.Errorf("room kind = %s; the user has no Telegram login, so the history cannot be a portal", sum.Rooms[0].Kind)
	}
	events := roomTimeline(t, user, room, len(tgWant))
	if len(events) != len(tgWant) {
		for _, e := range events {
			t.Logf("%s %s %v", e.Sender, e.Type.Type, e.Content.Raw)
		}
		t.Fatalf("room has %d messages, want %d", len(events), len(tgWant))
	}
	for i, want := range tgWant {
		evt := events[i]
		if evt.Timestamp != want.unix*1000 {
			t.Errorf("message %d: origin_server_ts %d, want the export's %d", i+1, evt.Timestamp, want.unix*1000)
		}
		if ghost := ghostMXID(t, br, want.from); evt.Sender != ghost {
			t.Errorf("message %d: sender %s, want %s", i+1, evt.Sender, ghost)
		}
		if evt.Type != want.evtType {
			t.Errorf("message %d: type %s, want %s", i+1, evt.Type.Type, want.evtType.Type)
			continue
		}
		body, _ := evt.Content.Raw["body"].(string)
		if !strings.Contains(body, want.body) {
			t.Errorf("message %d: body %q does not contain %q", i+1, body, want.body)
		}
		if msg, ok := evt.Content.Parsed.(*event.MessageEventContent); ok && msg.MsgType != want.msgType {
			t.Errorf("message %d: msgtype %s, want %s", i+1, msg.MsgType, want.msgType)
		}
		var replyTo id.EventID
		if rel, ok := evt.Content.Raw["m.relates_to"].(map[string]any); ok {
			if irt, ok := rel["m.in_reply_to"].(map[string]any); ok {
				replyTo = id.EventID(fmt.Sprint(irt["event_id"]))
			}
		}
		if want.replyTo != 0 && replyTo != events[want.replyTo-1].ID {
			t.Errorf("message %d: replies to %q, want %s (message %d)", i+1, replyTo, events[want.replyTo-1].ID, want.replyTo)
		} else if want.replyTo == 0 && replyTo != "" {
			t.Errorf("message %d: unexpected reply to %s", i+1, replyTo)
		}
	}
	if html, _ := events[1].Content.Raw["formatted_body"].(string); !strings.Contains(html, "<strong>samedi</strong>") && !strings.Contains(html, "<b>samedi</b>") {
		t.Errorf("formatting lost: formatted_body %q", html)
	}
	img := events[3].Content.AsMessage()
	uri, err := img.URL.Parse()
	if err != nil {
		t.Fatalf("photo has no usable mxc URL %q: %v", img.URL, err)
	}
	got, err := user.DownloadBytes(context.Background(), uri)
	if err != nil || !bytes.Equal(got, photo) {
		t.Errorf("downloaded photo differs from the export's (%d bytes, err %v)", len(got), err)
	}
	profile, err := user.GetProfile(context.Background(), ghostMXID(t, br, "tg.222222"))
	if err != nil || profile.DisplayName != "Bastien Roux" {
		t.Errorf("ghost display name = %+v, %v; want the export's name", profile, err)
	}

	// A second run imports nothing and adds nothing to the room.
	again, stderr, code := runImportCLI(t, br, "telegram", dir, "--user", string(user.UserID))
	if code != 0 {
		t.Fatalf("second run exited %d: %s", code, stderr)
	}
	if again.Imported != 0 || again.Skipped != len(tgWant) || again.Rooms[0].RoomID != room {
		t.Fatalf("second run summary = %+v; want everything skipped into %s", again, room)
	}
	if n := len(settledTimeline(t, user, room, len(tgWant))); n != len(tgWant) {
		t.Fatalf("room has %d messages after the second run, want still %d", n, len(tgWant))
	}

	// A longer export of the same chat (re-exported later) adds only what is new.
	longer := strings.Replace(tgExport, "\n ]\n}", `,
  {"id": 8, "type": "message", "date": "2023-12-30T12:00:00", "date_unixtime": "1703937600",
   "from": "Camille Durand", "from_id": "user111111", "reply_to_message_id": 3,
   "text": "Parfait", "text_entities": [{"type": "plain", "text": "Parfait"}]}
 ]
}`, 1)
	if err = os.WriteFile(filepath.Join(dir, "result.json"), []byte(longer), 0o644); err != nil {
		t.Fatal(err)
	}
	third, stderr, code := runImportCLI(t, br, "telegram", filepath.Join(dir, "result.json"), "--user", string(user.UserID))
	if code != 0 || third.Imported != 1 || third.Skipped != len(tgWant) {
		t.Fatalf("re-export run: exit %d, summary %+v, stderr %s", code, third, stderr)
	}
	events = roomTimeline(t, user, room, len(tgWant)+1)
	last := events[len(events)-1]
	if body, _ := last.Content.Raw["body"].(string); body != "Parfait" || last.Content.AsMessage().RelatesTo.GetReplyTo() != events[2].ID {
		t.Errorf("new message = %v; want \"Parfait\" replying to the earlier imported %s", last.Content.Raw, events[2].ID)
	}
}

func testImportTelegramBadInput(t *testing.T, br *bridgetest.Bridge) {
	user := hstest.UserID(hstest.UniqueLocalpart("tgbad"))
	dir := t.TempDir()
	// Truncated in the middle of the third message.
	cut := strings.Index(tgExport, `"from": "Bastien Roux"`)
	if err := os.WriteFile(filepath.Join(dir, "result.json"), []byte(tgExport[:cut]), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runImportCLI(t, br, "telegram", dir, "--user", string(user))
	if code != 1 {
		t.Fatalf("truncated export: exit %d, want 1; stderr %s", code, stderr)
	}
	for _, want := range []string{"result.json", "$.messages[2]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("error %q does not name %q", stderr, want)
		}
	}
	if !strings.Contains(stderr, "passerelle import:") {
		t.Errorf("no error line: %q", stderr)
	}
}

// waChat is an Android WhatsApp export of a DM-like group chat, with a phone-number sender, a
// named contact, the exporting user ("Alice Martin", given with --me), a multi-line edited
// message, an attached photo and an omitted one.
const waChat = "31/12/2023, 21:40 - Messages and calls are end-to-end encrypted. No one outside of this chat, not even WhatsApp, can read or listen to them. Tap to learn more.\n" +
	"31/12/2023, 21:41 - Jonas Weber: Bonne année en avance !\n" +
	"31/12/2023, 21:42 - +33 6 12 34 56 78: Merci *beaucoup*\n" +
	"31/12/2023, 21:43 - Alice Martin: IMG-20231231-WA0001.jpg (file attached)\n" +
	"La photo du repas\n" +
	"31/12/2023, 21:44 - Jonas Weber: <Media omitted>\n" +
	"13/01/2024, 09:05 - Alice Martin: Rendez-vous\n" +
	"demain <This message was edited>\n"

func testImportWhatsAppCommand(t *testing.T, br *bridgetest.Bridge) {
	ctx := context.Background()
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("waimport"))
	mgmt := br.OpenManagementRoom(t, user)
	photo := testPNG(t)
	var zbuf bytes.Buffer
	zw := zip.NewWriter(&zbuf)
	for name, data := range map[string][]byte{"WhatsApp Chat with Jonas Weber.txt": []byte(waChat), "IMG-20231231-WA0001.jpg": photo} {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(data)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	up, err := user.UploadBytesWithName(ctx, zbuf.Bytes(), "application/zip", "WhatsApp Chat with Jonas Weber.zip")
	if err != nil {
		t.Fatal(err)
	}
	fileEvt, err := user.SendMessageEvent(ctx, mgmt, event.EventMessage, &event.MessageEventContent{
		MsgType: event.MsgFile, Body: "WhatsApp Chat with Jonas Weber.zip", URL: up.ContentURI.CUString(),
		Info: &event.FileInfo{MimeType: "application/zip", Size: zbuf.Len()},
	})
	if err != nil {
		t.Fatal(err)
	}

	importOnce := func() string {
		t.Helper()
		cmd := &event.MessageEventContent{MsgType: event.MsgText, Body: `import whatsapp --me "Alice Martin"`,
			RelatesTo: (&event.RelatesTo{}).SetReplyTo(fileEvt.EventID)}
		sent, err := user.SendMessageEvent(ctx, mgmt, event.EventMessage, cmd)
		if err != nil {
			t.Fatal(err)
		}
		done := br.WaitForEvent(t, user, mgmt, sent.EventID, func(evt *event.Event) bool {
			if evt.Sender != br.Bot || evt.Type != event.EventMessage {
				return false
			}
			msg := evt.Content.AsMessage()
			if msg.NewContent != nil && msg.RelatesTo.GetReplaceID() != "" {
				msg = msg.NewContent
			}
			return strings.HasPrefix(msg.Body, "Import finished") || strings.HasPrefix(msg.Body, "Import failed")
		})
		msg := done.Content.AsMessage()
		if msg.NewContent == nil || msg.RelatesTo.GetReplaceID() == "" {
			t.Errorf("the summary is not an edit of the status message: %v", done.Content.Raw)
		} else {
			msg = msg.NewContent
		}
		return msg.Body
	}
	summary := importOnce()
	if !strings.Contains(summary, "6 imported, 0 skipped") || !strings.Contains(summary, "0 failed") {
		t.Fatalf("summary: %s\nbridge log:\n%s", summary, br.LogTail(30))
	}
	start := strings.Index(summary, "→ !")
	if start < 0 {
		t.Fatalf("summary names no room: %s", summary)
	}
	room := id.RoomID(strings.Fields(summary[start+len("→ "):])[0])
	events := roomTimeline(t, user, room, 6)
	jonas := ghostMXID(t, br, string(portal.ImportedUserID(portal.WhatsApp, string(user.UserID), "Jonas Weber")))
	alice := ghostMXID(t, br, string(portal.ImportedUserID(portal.WhatsApp, string(user.UserID), "Alice Martin")))
	phone := ghostMXID(t, br, "wa.33612345678")
	want := []struct {
		ts     time.Time
		sender id.UserID
		typ    event.MessageType
		body   string
	}{
		{time.Date(2023, 12, 31, 21, 40, 0, 0, time.UTC), br.Bot, event.MsgNotice, "end-to-end encrypted"},
		{time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), jonas, event.MsgText, "Bonne année en avance !"},
		{time.Date(2023, 12, 31, 21, 42, 0, 0, time.UTC), phone, event.MsgText, "Merci *beaucoup*"},
		{time.Date(2023, 12, 31, 21, 43, 0, 0, time.UTC), alice, event.MsgImage, "La photo du repas"},
		{time.Date(2023, 12, 31, 21, 44, 0, 0, time.UTC), jonas, event.MsgNotice, "not imported"},
		{time.Date(2024, 1, 13, 9, 5, 0, 0, time.UTC), alice, event.MsgText, "Rendez-vous\ndemain (edited)"},
	}
	if len(events) != len(want) {
		for _, e := range events {
			t.Logf("%s %s %v", e.Sender, e.Type.Type, e.Content.Raw)
		}
		t.Fatalf("room has %d messages, want %d", len(events), len(want))
	}
	for i, w := range want {
		evt := events[i]
		msg := evt.Content.AsMessage()
		if evt.Timestamp != w.ts.UnixMilli() {
			t.Errorf("message %d: ts %s, want %s", i+1, time.UnixMilli(evt.Timestamp).UTC(), w.ts)
		}
		if evt.Sender != w.sender {
			t.Errorf("message %d: sender %s, want %s", i+1, evt.Sender, w.sender)
		}
		if msg.MsgType != w.typ || !strings.Contains(msg.Body, w.body) {
			t.Errorf("message %d: %s %q, want %s containing %q", i+1, msg.MsgType, msg.Body, w.typ, w.body)
		}
	}
	if html := events[2].Content.AsMessage().FormattedBody; !strings.Contains(html, "<strong>beaucoup</strong>") && !strings.Contains(html, "<b>beaucoup</b>") {
		t.Errorf("WhatsApp markup not converted: %q", html)
	}
	if uri, err := events[3].Content.AsMessage().URL.Parse(); err != nil {
		t.Errorf("photo without mxc URL: %v", err)
	} else if got, err := user.DownloadBytes(ctx, uri); err != nil || !bytes.Equal(got, photo) {
		t.Errorf("photo differs from the export's (%d bytes, %v)", len(got), err)
	}
	if p, err := user.GetProfile(ctx, jonas); err != nil || p.DisplayName != "Jonas Weber" {
		t.Errorf("imported ghost profile = %+v, %v", p, err)
	}

	// Again: nothing new.
	summary = importOnce()
	if !strings.Contains(summary, "0 imported, 6 skipped") || !strings.Contains(summary, string(room)) {
		t.Fatalf("second run summary: %s", summary)
	}
	if n := len(settledTimeline(t, user, room, len(want))); n != len(want) {
		t.Fatalf("room has %d messages after the second run, want %d", n, len(want))
	}
}
