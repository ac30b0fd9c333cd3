package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// putTransaction sends body as an appservice transaction, with header (the whole Authorization
// value, none when empty) and an optional query, and returns the status and the error body.
func putTransaction(t *testing.T, reg *appservice.Registration, txnID, header, query string, body []byte) (int, map[string]any) {
	t.Helper()
	u := strings.TrimRight(reg.URL, "/") + "/_matrix/app/v1/transactions/" + txnID
	if query != "" {
		u += "?" + query
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("PUT transaction %s: %v (did the bridge hang or crash?)", txnID, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

// testBadInput: malformed or unauthenticated transactions, unknown and incomplete events and
// oversized media each get a clear answer or are ignored; the bridge keeps running, keeps
// answering, and a valid transaction sent after all of them is handled.
func testBadInput(t *testing.T, g *guarded) {
	reg := g.br.Registration
	member := g.users[lvlUser]
	room := g.mgmt[lvlUser]
	bearer := "Bearer " + reg.ServerToken
	// A command that, if it were handled, would answer in the member's management room.
	probe := func(body string) []byte {
		raw, _ := json.Marshal(map[string]any{"events": []any{map[string]any{
			"type": "m.room.message", "room_id": room, "sender": member.UserID, "event_id": hstest.NewEventID(),
			"origin_server_ts": time.Now().UnixMilli(), "content": map[string]any{"msgtype": "m.text", "body": body},
		}}})
		return raw
	}
	txn := func() string { return "bad-" + strings.TrimPrefix(hstest.NewEventID().String(), "$") }
	// Each `login` the member's commands run leaves an audit row: unauthenticated probes are
	// `login` commands, so a handled probe would show up as one more row.
	loginRows := func() int {
		return g.countRows(t, `SELECT count(*) FROM passerelle_audit WHERE actor=$1 AND action='command:login'`, member.UserID.String())
	}
	loginsBefore := loginRows()

	t.Run("Authentication", func(t *testing.T) {
		cases := []struct {
			name, header, query string
			code                string
		}{
			{"missing", "", "", "M_MISSING_TOKEN"},
			{"wrong", "Bearer not-the-hs-token", "", "M_UNKNOWN_TOKEN"},
			{"as-token-instead", "Bearer " + reg.AppToken, "", "M_UNKNOWN_TOKEN"},
			{"not-bearer", "Basic " + reg.ServerToken, "", "M_MISSING_TOKEN"},
			// Only the Authorization header counts, not the deprecated access_token parameter.
			{"query-parameter", "", "access_token=" + reg.ServerToken, "M_MISSING_TOKEN"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, body := putTransaction(t, reg, txn(), tc.header, tc.query, probe("login"))
				if status != http.StatusUnauthorized || body["errcode"] != tc.code {
					t.Errorf("HTTP %d %v, want 401 %s", status, body, tc.code)
				}
			})
		}
	})

	t.Run("Malformed", func(t *testing.T) {
		huge := bytes.Repeat([]byte("x"), 8<<20)
		cases := []struct {
			name   string
			body   []byte
			status int
		}{
			{"empty", nil, http.StatusBadRequest},
			{"not-json", []byte("this is not json"), http.StatusBadRequest},
			{"truncated", []byte(`{"events":[{"type":"m.room.message"`), http.StatusBadRequest},
			{"array", []byte(`[]`), http.StatusBadRequest},
			{"events-string", []byte(`{"events":"m.room.message"}`), http.StatusBadRequest},
			{"event-number", []byte(`{"events":[42]}`), http.StatusBadRequest},
			{"type-number", []byte(`{"events":[{"type":5,"room_id":"!a:b","sender":"@a:b","content":{}}]}`), http.StatusBadRequest},
			{"huge-garbage", huge, http.StatusBadRequest},
			// 8 MiB of text in one valid event: accepted and handled like any message.
			{"huge-message", probe("!pa " + string(huge)), http.StatusOK},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				status, body := putTransaction(t, reg, txn(), bearer, "", tc.body)
				if status != tc.status {
					t.Errorf("HTTP %d %v, want %d", status, body, tc.status)
				}
				if status == http.StatusBadRequest && body["errcode"] != "M_NOT_JSON" && body["errcode"] != "M_BAD_JSON" {
					t.Errorf("error %v does not say the JSON was bad", body)
				}
			})
		}
	})

	t.Run("UnknownAndIncompleteEvents", func(t *testing.T) {
		now := time.Now().UnixMilli()
		raw := func(fields map[string]any) map[string]any {
			evt := map[string]any{"room_id": room, "sender": member.UserID, "event_id": hstest.NewEventID(), "origin_server_ts": now}
			for k, v := range fields {
				if v == nil {
					delete(evt, k)
				} else {
					evt[k] = v
				}
			}
			return evt
		}
		text := map[string]any{"msgtype": "m.text", "body": "!pa help"}
		events := []any{
			raw(map[string]any{"type": "org.example.unknown", "content": map[string]any{"x": 1}}),
			raw(map[string]any{"type": "org.example.unknown.state", "state_key": "", "content": map[string]any{}}),
			raw(map[string]any{"type": "m.room.message", "sender": nil, "content": text}),
			raw(map[string]any{"type": "m.room.message", "room_id": nil, "content": text}),
			raw(map[string]any{"type": "m.room.message", "event_id": nil, "content": text}),
			raw(map[string]any{"type": "m.room.message", "content": nil}),
			raw(map[string]any{"type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": 5}}),
			raw(map[string]any{"type": "m.room.message", "content": map[string]any{"msgtype": "m.image", "body": "x.png", "url": "not a uri"}}),
			raw(map[string]any{"type": "m.room.message", "content": map[string]any{"msgtype": "m.text", "body": "!pa help", "m.relates_to": "nope"}}),
			raw(map[string]any{"type": "m.room.member", "content": map[string]any{"membership": "invite"}}),
			raw(map[string]any{"type": "m.room.member", "state_key": g.br.Bot, "content": map[string]any{"membership": 7}}),
			raw(map[string]any{"type": "m.room.redaction", "content": map[string]any{}}),
			raw(map[string]any{"type": "m.reaction", "content": map[string]any{"m.relates_to": map[string]any{"rel_type": "m.annotation"}}}),
			raw(map[string]any{"type": "m.room.encrypted", "content": map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}}),
			raw(map[string]any{"type": "m.room.message", "room_id": g.portal, "content": map[string]any{"msgtype": "m.file", "body": "f"}}),
			raw(map[string]any{"type": "m.room.message", "room_id": "!unknown:localhost", "content": text}),
		}
		body, _ := json.Marshal(map[string]any{
			"events": events,
			"ephemeral": []any{
				map[string]any{"type": "m.typing", "room_id": room, "content": map[string]any{"user_ids": "everyone"}},
				map[string]any{"type": "m.receipt", "room_id": room, "content": map[string]any{"$x": "y"}},
				map[string]any{"type": "org.example.ephemeral", "content": map[string]any{}},
			},
			"to_device": []any{map[string]any{"type": "m.room_key", "sender": member.UserID, "content": map[string]any{"algorithm": 1}}},
		})
		status, out := putTransaction(t, reg, txn(), bearer, "", body)
		if status != http.StatusOK {
			t.Fatalf("HTTP %d %v, want 200: a homeserver must not be made to retry events the bridge can never use", status, out)
		}
		if !g.br.Running() {
			t.Fatal("the bridge exited on unknown or incomplete events")
		}
	})

	t.Run("RetriedTransactions", func(t *testing.T) {
		// A homeserver retries a transaction under the same ID until it gets 200. A body that was
		// refused must not burn its ID (the fixed retry is handled), and a handled ID is handled
		// once however often it comes again.
		id := txn()
		before := loginRows()
		last := lastEventID(t, member, room)
		if status, _ := putTransaction(t, reg, id, bearer, "", []byte(`{"events":[`)); status != http.StatusBadRequest {
			t.Fatalf("truncated body: HTTP %d, want 400", status)
		}
		body := probe("login")
		for i := 0; i < 3; i++ {
			if status, out := putTransaction(t, reg, id, bearer, "", body); status != http.StatusOK {
				t.Fatalf("delivery %d: HTTP %d %v", i+1, status, out)
			}
		}
		isLoginAnswer := func(e *event.Event) bool {
			m := e.Content.AsMessage()
			return e.Sender == g.br.Bot && m != nil && strings.HasPrefix(m.Body, "Please specify a login flow")
		}
		g.br.WaitForEvent(t, member, room, last, isLoginAnswer)
		// A later command is answered; a second handling of the retried ID would have been
		// dispatched before it.
		sent, err := member.SendText(context.Background(), room, "help")
		if err != nil {
			t.Fatal(err)
		}
		g.br.WaitForEvent(t, member, room, sent.EventID, func(e *event.Event) bool {
			m := e.Content.AsMessage()
			return e.Sender == g.br.Bot && m != nil && strings.Contains(m.Body, managementRoomHint)
		})
		resp, err := member.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		answers := 0
		for _, e := range resp.Chunk {
			if e.ID == last {
				break
			}
			_ = e.Content.ParseRaw(e.Type)
			if isLoginAnswer(e) {
				answers++
			}
		}
		if answers != 1 || loginRows()-before != 1 {
			t.Errorf("one transaction delivered 3 times (after a refused first try): %d answers, %d audit rows; want 1 and 1", answers, loginRows()-before)
		}
		loginsBefore++ // this one was authenticated
	})

	t.Run("OversizedMediaFromMatrix", func(t *testing.T) {
		ctx := context.Background()
		admin := g.users[lvlAdmin]
		up, err := admin.UploadBytes(ctx, []byte("small file"), "application/octet-stream")
		if err != nil {
			t.Fatal(err)
		}
		// A file claiming 3 GiB, more than Telegram's 2000 MiB limit.
		sent, err := admin.SendMessageEvent(ctx, g.portal, event.EventMessage, &event.MessageEventContent{
			MsgType: event.MsgFile, Body: "huge.bin", FileName: "huge.bin", URL: up.ContentURI.CUString(),
			Info: &event.FileInfo{MimeType: "application/octet-stream", Size: 3 << 30},
		})
		if err != nil {
			t.Fatal(err)
		}
		st := g.waitStatus(t, admin, g.portal, sent.EventID)
		if !isFailure(st) || !strings.Contains(st.Error+st.Message, "too large") {
			t.Errorf("status of a 3 GiB file: %+v, want a failure saying it is too large", st)
		}
		notice := g.br.WaitForEvent(t, admin, g.portal, sent.EventID, func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return evt.Sender == g.br.Bot && m != nil && m.MsgType == event.MsgNotice
		})
		if body := notice.Content.AsMessage().Body; !strings.Contains(body, "too large") || !strings.Contains(body, "MiB") {
			t.Errorf("notice %q does not say the file is too large and what the limit is", body)
		}
		for _, m := range g.srv.History(g.bob.ID(), tgtestserver.UserPeer(g.marie.ID())) {
			if m.Text == "huge.bin" || m.Media != "" && strings.Contains(m.Text, "huge") {
				t.Errorf("the oversized file reached Telegram: %+v", m)
			}
		}
	})

	t.Run("OversizedMediaFromTelegram", func(t *testing.T) {
		// Dendrite takes uploads up to 10 MiB (max_file_size_bytes); this document is larger.
		doc := bytes.Repeat([]byte{0xA5}, 11<<20)
		_, err := g.bob.Send(tgtestserver.UserPeer(g.marie.ID()), tgtestserver.Message{
			Document: doc, MimeType: "application/octet-stream",
			Attributes: []tg.DocumentAttributeClass{&tg.DocumentAttributeFilename{FileName: "too-big.bin"}},
		})
		if err != nil {
			t.Fatal(err)
		}
		notice := g.br.WaitForEvent(t, g.users[lvlAdmin], g.portal, "", func(evt *event.Event) bool {
			m := evt.Content.AsMessage()
			return m != nil && strings.Contains(m.Body, "too-big.bin")
		})
		m := notice.Content.AsMessage()
		if m.MsgType != event.MsgNotice || m.URL != "" || !strings.Contains(m.Body, "larger than the bridge's limit") {
			t.Errorf("an 11 MiB Telegram file became %s %q (url %q), want a notice naming the limit", m.MsgType, m.Body, m.URL)
		}
		if !strings.Contains(m.Body, fmt.Sprint(len(doc))) {
			t.Errorf("the notice does not give the file's size: %q", m.Body)
		}
	})

	t.Run("StillServing", func(t *testing.T) {
		if !g.br.Running() {
			t.Fatal("the bridge process is gone")
		}
		// A valid transaction after all the bad ones is handled: nothing is stuck behind them.
		ctx := context.Background()
		evt := &event.Event{Type: event.EventMessage, RoomID: room, Sender: member.UserID, ID: hstest.NewEventID(),
			Timestamp: time.Now().UnixMilli(), Content: event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: "version"}}}
		before := lastEventID(t, member, room)
		if err := hstest.DeliverTransaction(ctx, reg, "", &appservice.Transaction{Events: []*event.Event{evt}}); err != nil {
			t.Fatal(err)
		}
		g.br.WaitForEvent(t, member, room, before, func(e *event.Event) bool {
			m := e.Content.AsMessage()
			return e.Sender == g.br.Bot && m != nil && strings.Contains(m.Body, "passerelle")
		})
		// And the homeserver path still works.
		g.sendAndWait(t, member, room, "help", managementRoomHint)
		// Nothing above made any handler panic (bridgev2 recovers panics in portal event loops,
		// and whatsmeow in its handlers, so a crash would not show as an exit).
		for _, line := range strings.Split(g.br.LogTail(1<<30), "\n") {
			if strings.Contains(strings.ToLower(line), "panic") {
				t.Errorf("the bridge log shows a panic: %.300s", line)
			}
		}
		// None of the unauthenticated probes was handled (they were sent long before the
		// answers above).
		if n := loginRows(); n != loginsBefore {
			t.Errorf("%d login commands of %s were handled from unauthenticated transactions", n-loginsBefore, member.UserID)
		}
	})
}

// lastEventID is the newest event of the room, to wait for what comes after it.
func lastEventID(t *testing.T, cli *mautrix.Client, room id.RoomID) id.EventID {
	t.Helper()
	resp, err := cli.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 1)
	if err != nil || len(resp.Chunk) == 0 {
		t.Fatalf("read the last event of %s: %v", room, err)
	}
	return resp.Chunk[0].ID
}
