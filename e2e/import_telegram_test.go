package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix/event"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/importer"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// TestImportIntoTelegramPortal logs a user into Telegram (the project's test server) through the
// bridge, imports the history of a personal chat that has no portal yet, and checks that the
// imported room became the chat's portal: a message Bob sends afterwards on Telegram arrives in
// the same room, after the history.
func TestImportIntoTelegramPortal(t *testing.T) {
	srv := startTelegramServer(t)
	me, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33 6 00 00 01 01", FirstName: "Irène", LastName: "Joliot"})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.CreateUser(tgtestserver.UserSpec{Phone: "+33600000102", FirstName: "Bob"})
	if err != nil {
		t.Fatal(err)
	}
	br := bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: "sqlite3-fk-wal", DisableEncryption: true, Edit: telegramSection(srv), LogLevel: "info",
	})
	user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("tgportal"))
	mgmt := br.OpenManagementRoom(t, user)
	final := tgLogin(t, br, user, mgmt,
		func() string { return "+33600000101" },
		func() string {
			code, ok := srv.LastCode("33600000101")
			if !ok {
				t.Fatal("the server sent no login code")
			}
			return code
		},
	)
	if !strings.Contains(final, "Logged in to Telegram") {
		t.Fatalf("login did not finish: %s", final)
	}

	msg := func(id int, unix, from int64, name, text string, extra map[string]any) map[string]any {
		m := map[string]any{"id": id, "type": "message", "date": time.Unix(unix, 0).UTC().Format("2006-01-02T15:04:05"),
			"date_unixtime": fmt.Sprint(unix), "from": name, "from_id": fmt.Sprintf("user%d", from), "text": text,
			"text_entities": []map[string]string{{"type": "plain", "text": text}}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	// The export's message IDs must not be ones the test server hands out next (it numbers this
	// account's messages from 1): on Telegram, exported history and new messages never share IDs,
	// and the importer records the history under the IDs the connector uses for live messages.
	export, err := json.Marshal(map[string]any{"name": "Bob", "type": "personal_chat", "id": bob.ID(), "messages": []any{
		msg(1001, 1650000000, bob.ID(), "Bob", "Tu te souviens de 2022 ?", nil),
		msg(1002, 1650000060, me.ID(), "Irène Joliot", "Bien sûr", map[string]any{"reply_to_message_id": 1001}),
	}})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err = os.WriteFile(filepath.Join(dir, "result.json"), export, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, stderr, code := runImportCLI(t, br, "telegram", dir, "--user", string(user.UserID))
	if code != 0 {
		t.Fatalf("import exited %d: %s\n%s", code, stderr, br.LogTail(30))
	}
	if sum.Imported != 2 || len(sum.Rooms) != 1 || sum.Rooms[0].Kind != importer.KindPortal {
		t.Fatalf("summary = %+v; want 2 messages in a new portal", sum)
	}
	room := sum.Rooms[0].RoomID
	history := roomTimeline(t, user, room, 2)
	var msgs []*event.Event
	for _, e := range history {
		if e.Type == event.EventMessage {
			msgs = append(msgs, e)
		}
	}
	if len(msgs) != 2 || msgs[0].Timestamp != 1650000000000 || msgs[0].Sender != ghostMXID(t, br, fmt.Sprintf("tg.%d", bob.ID())) {
		t.Fatalf("imported history = %v", msgs)
	}

	// Live: Bob writes on Telegram; the bridge puts it in the imported room, after the history.
	if _, err = bob.SendText(tgtestserver.UserPeer(me.ID()), "Et aujourd'hui ?"); err != nil {
		t.Fatal(err)
	}
	live := br.WaitForEvent(t, user, room, msgs[1].ID, func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return evt.Type == event.EventMessage && m != nil && m.Body == "Et aujourd'hui ?"
	})
	if live.Sender != msgs[0].Sender {
		t.Errorf("live message from %s, want Bob's ghost %s like the history", live.Sender, msgs[0].Sender)
	}
}
