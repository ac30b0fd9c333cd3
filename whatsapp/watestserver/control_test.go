package watestserver

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"go.mau.fi/whatsmeow/types/events"
)

func TestControlAPI(t *testing.T) {
	srv := startServer(t)
	ctx := testContext(t)
	ctl := NewControl(srv)
	defer ctl.Close()
	api := httptest.NewServer(ctl)
	defer api.Close()

	call := func(method, path string, body any, wantStatus int, out any) {
		t.Helper()
		var buf bytes.Buffer
		if body != nil {
			_ = json.NewEncoder(&buf).Encode(body)
		}
		req, _ := http.NewRequest(method, api.URL+path, &buf)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != wantStatus {
			var e map[string]string
			_ = json.NewDecoder(resp.Body).Decode(&e)
			t.Fatalf("%s %s: status %d (%s), want %d", method, path, resp.StatusCode, e["error"], wantStatus)
		}
		if out != nil {
			if err = json.NewDecoder(resp.Body).Decode(out); err != nil {
				t.Fatal(err)
			}
		}
	}

	// The bridge-side client pairs by QR through the control API.
	bridge := newTestClient(t, srv, "bridge")
	qrChan, err := bridge.cli.GetQRChannel(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err = bridge.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	qr := (<-qrChan).Code
	var paired map[string]string
	call("POST", "/pair/qr", map[string]string{"phone": "33611111111", "qr": qr}, 200, &paired)
	if _, _, err = WaitFor[*events.Connected](ctx, bridge.log, 0, nil); err != nil {
		t.Fatal(err)
	}

	var phone map[string]string
	call("POST", "/phones", map[string]string{"phone": "33622222222", "push_name": "Zoé"}, 200, &phone)
	var sent map[string]string
	call("POST", "/phones/33622222222/send", map[string]string{"to": "33611111111", "text": "coucou"}, 200, &sent)
	msg, _, err := WaitFor(ctx, bridge.log, 0, func(m *events.Message) bool { return m.Info.ID == sent["id"] })
	if err != nil {
		t.Fatal(err)
	}
	if textOf(msg.Message) != "coucou" || msg.Info.PushName != "Zoé" {
		t.Fatalf("bridge got %q from %q", textOf(msg.Message), msg.Info.PushName)
	}
	reply, err := bridge.cli.SendMessage(ctx, msg.Info.Chat, whatsmeowText("salut Zoé"))
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the phone to list the reply", func() bool {
		var got []ReceivedMessage
		call("GET", "/phones/33622222222/messages", nil, 200, &got)
		return len(got) == 1 && got[0].ID == reply.ID && got[0].Type == "text" && got[0].Text == "salut Zoé" && got[0].Sender == "33611111111@s.whatsapp.net"
	})

	// The phone reads, reacts, types and sends a picture.
	call("POST", "/phones/33622222222/read", map[string]any{"chat": "33611111111", "sender": "33611111111", "ids": []string{reply.ID}}, 200, nil)
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(r *events.Receipt) bool { return r.Type == "read" && r.MessageIDs[0] == reply.ID }); err != nil {
		t.Fatal(err)
	}
	var reacted map[string]string
	call("POST", "/phones/33622222222/react", map[string]string{"chat": "33611111111", "sender": "33611111111", "id": reply.ID, "emoji": "❤️"}, 200, &reacted)
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(m *events.Message) bool {
		return m.Info.ID == reacted["id"] && m.Message.GetReactionMessage().GetText() == "❤️"
	}); err != nil {
		t.Fatal(err)
	}
	call("POST", "/phones/33622222222/typing", map[string]any{"chat": "33611111111", "typing": true}, 200, nil)
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(c *events.ChatPresence) bool { return c.State == "composing" }); err != nil {
		t.Fatal(err)
	}
	png := []byte("\x89PNG\r\n\x1a\n pretend picture")
	var pic map[string]string
	call("POST", "/phones/33622222222/image", map[string]string{"to": "33611111111", "data_base64": base64.StdEncoding.EncodeToString(png), "caption": "vue"}, 200, &pic)
	img, _, err := WaitFor(ctx, bridge.log, 0, func(m *events.Message) bool { return m.Info.ID == pic["id"] })
	if err != nil {
		t.Fatal(err)
	}
	if data, err := bridge.cli.Download(ctx, img.Message.GetImageMessage()); err != nil || !bytes.Equal(data, png) ||
		img.Message.GetImageMessage().GetMimetype() != "image/png" || img.Message.GetImageMessage().GetCaption() != "vue" {
		t.Fatalf("picture from the phone: %v, %q", err, data)
	}
	waitUntil(t, "the phone to list the bridge's receipts", func() bool {
		var got []ReceivedReceipt
		call("GET", "/phones/33622222222/receipts", nil, 200, &got)
		return len(got) > 0 && got[0].Sender == "33611111111@s.whatsapp.net"
	})
	call("POST", "/phones/33622222222/image", map[string]string{"to": "33611111111", "data_base64": "%%%"}, 400, nil)
	call("POST", "/phones/33622222222/react", map[string]string{"chat": "33611111111", "sender": "33611111111"}, 400, nil)

	var devices []string
	call("GET", "/accounts/33611111111/devices", nil, 200, &devices)
	if len(devices) != 1 || devices[0] != paired["jid"] {
		t.Fatalf("devices = %v, paired %v", devices, paired)
	}
	var group map[string]string
	call("POST", "/groups", map[string]any{"creator": "33622222222", "name": "Demo", "members": []string{"33611111111"}}, 200, &group)
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(j *events.JoinedGroup) bool { return j.JID.String() == group["jid"] }); err != nil {
		t.Fatal(err)
	}

	var ring map[string]string
	call("POST", "/calls", map[string]any{"from": "33622222222", "to": "33611111111"}, 200, &ring)
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(o *events.CallOffer) bool { return o.CallID == ring["id"] }); err != nil {
		t.Fatal(err)
	}
	call("POST", "/calls/end", map[string]any{"from": "33622222222", "to": "33611111111", "id": ring["id"]}, 200, nil)
	if _, _, err = WaitFor(ctx, bridge.log, 0, func(e *events.CallTerminate) bool { return e.CallID == ring["id"] }); err != nil {
		t.Fatal(err)
	}

	// Errors say what is wrong.
	call("POST", "/pair/qr", map[string]string{"phone": "33611111111", "qr": "1,2,3"}, 400, nil)
	call("POST", "/pair/code", map[string]string{"phone": "33611111111", "code": "ABC"}, 400, nil)
	call("POST", "/pair/code", map[string]string{"phone": "33611111111", "code": "ABCD-EFGH"}, 409, nil)
	call("POST", "/phones", map[string]string{"phone": "+33"}, 400, nil)
	call("POST", "/phones", map[string]string{"phone": "33622222222", "extra": "x"}, 400, nil)
	call("POST", "/phones/33699999999/send", map[string]string{"to": "33611111111", "text": "x"}, 404, nil)
	call("POST", "/phones/33622222222/send", map[string]string{"to": "33611111111", "text": ""}, 400, nil)
	call("GET", "/nowhere", nil, 404, nil)

	from := len(bridge.log.Events())
	call("POST", "/devices/disconnect", map[string]string{"jid": paired["jid"]}, 200, nil)
	if _, _, err = WaitFor[*events.Connected](ctx, bridge.log, from, nil); err != nil {
		t.Fatalf("no reconnect after a dropped connection: %v", err)
	}
	call("POST", "/devices/disconnect", map[string]string{"jid": "33611111111@s.whatsapp.net"}, 400, nil)
	call("POST", "/devices/stream-error", map[string]string{"jid": "33699999999:1@s.whatsapp.net", "code": "515"}, 404, nil)
	call("POST", "/devices/logout", map[string]string{"jid": paired["jid"]}, 200, nil)
	if _, _, err = WaitFor[*events.LoggedOut](ctx, bridge.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	var info map[string]string
	call("GET", "/info", nil, 200, &info)
	if info["proxy"] != srv.ProxyURL() || info["root_public_key"] != srv.RootPublicKeyBase64() {
		t.Fatalf("info = %v", info)
	}
}
