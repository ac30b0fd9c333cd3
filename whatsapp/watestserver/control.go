package watestserver

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/proto/waE2E"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"google.golang.org/protobuf/proto"
)

// Control is a JSON-over-HTTP remote for a Server, for demos and tests that drive the WhatsApp
// side from another process or a shell. It keeps the phones it creates (in memory).
//
//	GET  /info                               proxy, root key, CA PEM
//	POST /pair/qr      {"phone","qr"}        scan a QR code as phone      → {"jid"}
//	POST /pair/code    {"phone","code"}      type a pairing code on phone → {"jid"}
//	POST /phones       {"phone","push_name"} start a contact's phone      → {"jid"}
//	POST /phones/{phone}/send {"to","text"}  send a text                  → {"id"}
//	POST /phones/{phone}/image {"to","data_base64","mimetype","caption"} → {"id"}
//	POST /phones/{phone}/react {"chat","sender","id","emoji"}            → {"id"}
//	POST /phones/{phone}/read {"chat","sender","ids"}  read receipt
//	POST /phones/{phone}/typing {"chat","typing"}      typing indicator
//	GET  /phones/{phone}/messages            messages the phone received
//	GET  /phones/{phone}/receipts            receipts the phone received
//	POST /groups       {"creator","name","members"}                       → {"jid"}
//	POST /calls        {"from","to","video"} ring to's devices             → {"id"}
//	POST /calls/end    {"from","to","id"}    end (miss) the call
//	POST /devices/logout {"jid"}             unlink a device
//	POST /devices/disconnect {"jid"}         drop its connection (it reconnects)
//	POST /devices/stream-error {"jid","code","conflict"}
//	GET  /accounts/{phone}/devices           the account's devices
type Control struct {
	srv    *Server
	mu     sync.Mutex
	phones map[string]*Phone
}

// NewControl makes the remote for srv. Close it to disconnect its phones.
func NewControl(srv *Server) *Control {
	return &Control{srv: srv, phones: map[string]*Phone{}}
}

// Close disconnects the phones the control created.
func (ctl *Control) Close() {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	for _, p := range ctl.phones {
		p.Close()
	}
	ctl.phones = map[string]*Phone{}
}

// ReceivedMessage is a message a control phone received.
type ReceivedMessage struct {
	ID        string    `json:"id"`
	Chat      string    `json:"chat"`
	Sender    string    `json:"sender"`
	PushName  string    `json:"push_name"`
	Type      string    `json:"type"` // text, image, video, audio, document, sticker, reaction, edit, revoke, other
	Text      string    `json:"text,omitempty"`
	Caption   string    `json:"caption,omitempty"`
	Target    string    `json:"target,omitempty"` // the message a reaction, edit or revoke is about
	Timestamp time.Time `json:"timestamp"`
}

// ReceivedReceipt is a receipt a control phone received.
type ReceivedReceipt struct {
	Chat       string    `json:"chat"`
	Sender     string    `json:"sender"`
	Type       string    `json:"type"`
	MessageIDs []string  `json:"message_ids"`
	Timestamp  time.Time `json:"timestamp"`
}

func describeMessage(m *events.Message) (ReceivedMessage, bool) {
	out := ReceivedMessage{
		ID: m.Info.ID, Chat: m.Info.Chat.String(), Sender: m.Info.Sender.ToNonAD().String(),
		PushName: m.Info.PushName, Timestamp: m.Info.Timestamp,
	}
	msg := m.Message
	switch {
	case textOf(msg) != "":
		out.Type, out.Text = "text", textOf(msg)
	case msg.GetImageMessage() != nil:
		out.Type, out.Caption = "image", msg.GetImageMessage().GetCaption()
	case msg.GetVideoMessage() != nil:
		out.Type, out.Caption = "video", msg.GetVideoMessage().GetCaption()
	case msg.GetAudioMessage() != nil:
		out.Type = "audio"
	case msg.GetDocumentMessage() != nil:
		out.Type, out.Caption = "document", msg.GetDocumentMessage().GetCaption()
	case msg.GetStickerMessage() != nil:
		out.Type = "sticker"
	case msg.GetReactionMessage() != nil:
		out.Type, out.Text, out.Target = "reaction", msg.GetReactionMessage().GetText(), msg.GetReactionMessage().GetKey().GetID()
	case m.IsEdit:
		out.Type, out.Text, out.Target = "edit", textOf(msg.GetProtocolMessage().GetEditedMessage()), msg.GetProtocolMessage().GetKey().GetID()
	case msg.GetProtocolMessage().GetType() == waE2E.ProtocolMessage_REVOKE:
		out.Type, out.Target = "revoke", msg.GetProtocolMessage().GetKey().GetID()
	case onlySenderKey(msg):
		return out, false
	default:
		out.Type = "other"
	}
	return out, true
}

type controlError struct {
	status int
	msg    string
}

func (e *controlError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &controlError{http.StatusBadRequest, fmt.Sprintf(format, args...)}
}

// ServeHTTP routes control requests.
func (ctl *Control) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	result, err := ctl.route(ctx, r)
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		status := http.StatusInternalServerError
		var ce *controlError
		if errors.As(err, &ce) {
			status = ce.status
		} else if errors.Is(err, ErrNoPendingPairing) || errors.Is(err, ErrWrongPairingCode) {
			status = http.StatusConflict
		} else if errors.Is(err, ErrBadPairingInput) {
			status = http.StatusBadRequest
		}
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	_ = json.NewEncoder(w).Encode(result)
}

func decodeBody(r *http.Request, into any) error {
	dec := json.NewDecoder(http.MaxBytesReader(nil, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return badRequest("request body: %v", err)
	}
	return nil
}

func parseUserOrGroup(s string) (types.JID, error) {
	if !strings.Contains(s, "@") {
		if err := validPhone(s); err != nil {
			return types.EmptyJID, badRequest("%v", err)
		}
		return types.NewJID(s, types.DefaultUserServer), nil
	}
	jid, err := types.ParseJID(s)
	if err != nil {
		return types.EmptyJID, badRequest("JID %q: %v", s, err)
	}
	return jid, nil
}

func (ctl *Control) phone(number string) (*Phone, error) {
	ctl.mu.Lock()
	defer ctl.mu.Unlock()
	p := ctl.phones[number]
	if p == nil {
		return nil, &controlError{http.StatusNotFound, fmt.Sprintf("no phone %s: create it with POST /phones", number)}
	}
	return p, nil
}

func (ctl *Control) route(ctx context.Context, r *http.Request) (any, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/info":
		return map[string]string{
			"proxy":           ctl.srv.ProxyURL(),
			"root_public_key": ctl.srv.RootPublicKeyBase64(),
			"ca_pem":          string(ctl.srv.CACertPEM()),
		}, nil
	case r.Method == http.MethodPost && r.URL.Path == "/pair/qr":
		var req struct{ Phone, QR string }
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		jid, err := ctl.srv.ScanQR(ctx, req.Phone, req.QR)
		if err != nil {
			return nil, err
		}
		return map[string]string{"jid": jid.String()}, nil
	case r.Method == http.MethodPost && r.URL.Path == "/pair/code":
		var req struct{ Phone, Code string }
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		jid, err := ctl.srv.EnterPairingCode(ctx, req.Phone, req.Code)
		if err != nil {
			return nil, err
		}
		return map[string]string{"jid": jid.String()}, nil
	case r.Method == http.MethodPost && r.URL.Path == "/phones":
		var req struct {
			Phone    string `json:"phone"`
			PushName string `json:"push_name"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		if err := validPhone(req.Phone); err != nil {
			return nil, badRequest("%v", err)
		}
		ctl.mu.Lock()
		existing := ctl.phones[req.Phone]
		ctl.mu.Unlock()
		if existing != nil {
			return map[string]string{"jid": existing.JID.String()}, nil
		}
		p, err := ctl.srv.NewPhone(ctx, req.Phone, PhoneOptions{PushName: req.PushName})
		if err != nil {
			return nil, err
		}
		ctl.mu.Lock()
		ctl.phones[req.Phone] = p
		ctl.mu.Unlock()
		return map[string]string{"jid": p.JID.String()}, nil
	case len(parts) == 3 && parts[0] == "phones" && parts[2] == "send" && r.Method == http.MethodPost:
		p, err := ctl.phone(parts[1])
		if err != nil {
			return nil, err
		}
		var req struct{ To, Text string }
		if err = decodeBody(r, &req); err != nil {
			return nil, err
		}
		to, err := parseUserOrGroup(req.To)
		if err != nil {
			return nil, err
		}
		if req.Text == "" {
			return nil, badRequest("text must not be empty")
		}
		resp, err := p.SendText(ctx, to, req.Text)
		if err != nil {
			return nil, err
		}
		return map[string]string{"id": resp.ID}, nil
	case len(parts) == 3 && parts[0] == "phones" && parts[2] == "messages" && r.Method == http.MethodGet:
		p, err := ctl.phone(parts[1])
		if err != nil {
			return nil, err
		}
		out := []ReceivedMessage{}
		for _, evt := range p.Events.Events() {
			if m, ok := evt.(*events.Message); ok {
				if desc, ok := describeMessage(m); ok {
					out = append(out, desc)
				}
			}
		}
		return out, nil
	case len(parts) == 3 && parts[0] == "phones" && parts[2] == "receipts" && r.Method == http.MethodGet:
		p, err := ctl.phone(parts[1])
		if err != nil {
			return nil, err
		}
		out := []ReceivedReceipt{}
		for _, evt := range p.Events.Events() {
			if rc, ok := evt.(*events.Receipt); ok {
				out = append(out, ReceivedReceipt{
					Chat: rc.Chat.String(), Sender: rc.Sender.ToNonAD().String(), Type: string(rc.Type),
					MessageIDs: rc.MessageIDs, Timestamp: rc.Timestamp,
				})
			}
		}
		return out, nil
	case len(parts) == 3 && parts[0] == "phones" && r.Method == http.MethodPost &&
		(parts[2] == "image" || parts[2] == "react" || parts[2] == "read" || parts[2] == "typing"):
		p, err := ctl.phone(parts[1])
		if err != nil {
			return nil, err
		}
		return ctl.phoneAction(ctx, p, parts[2], r)
	case r.Method == http.MethodPost && r.URL.Path == "/groups":
		var req struct {
			Creator string   `json:"creator"`
			Name    string   `json:"name"`
			Members []string `json:"members"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		jid, err := ctl.srv.CreateGroup(ctx, req.Creator, req.Name, req.Members...)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		return map[string]string{"jid": jid.String()}, nil
	case r.Method == http.MethodPost && (r.URL.Path == "/calls" || r.URL.Path == "/calls/end"):
		var req struct {
			From  string `json:"from"`
			To    string `json:"to"`
			Video bool   `json:"video"`
			ID    string `json:"id"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		if r.URL.Path == "/calls/end" {
			if req.ID == "" {
				return nil, badRequest("id (the call to end) is required")
			}
			if err := ctl.srv.EndCall(req.From, req.To, req.ID, ""); err != nil {
				return nil, badRequest("%v", err)
			}
			return map[string]string{}, nil
		}
		id, err := ctl.srv.OfferCall(req.From, req.To, req.Video)
		if err != nil {
			return nil, badRequest("%v", err)
		}
		return map[string]string{"id": id}, nil
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/devices/"):
		var req struct {
			JID      string `json:"jid"`
			Code     string `json:"code"`
			Conflict string `json:"conflict"`
		}
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		jid, err := types.ParseJID(req.JID)
		if err != nil || jid.Device == 0 {
			return nil, badRequest("jid %q must be a device JID such as 33611111111:1@s.whatsapp.net", req.JID)
		}
		switch r.URL.Path {
		case "/devices/logout":
			err = ctl.srv.LogoutDevice(jid)
		case "/devices/disconnect":
			err = ctl.srv.Disconnect(jid)
		case "/devices/stream-error":
			err = ctl.srv.SendStreamError(jid, req.Code, req.Conflict)
		default:
			return nil, &controlError{http.StatusNotFound, fmt.Sprintf("no route POST %s", r.URL.Path)}
		}
		if err != nil {
			return nil, &controlError{http.StatusNotFound, err.Error()}
		}
		return map[string]string{}, nil
	case len(parts) == 3 && parts[0] == "accounts" && parts[2] == "devices" && r.Method == http.MethodGet:
		out := []string{}
		for _, d := range ctl.srv.Devices(parts[1]) {
			out = append(out, d.String())
		}
		return out, nil
	}
	return nil, &controlError{http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path)}
}

// phoneAction serves the phone endpoints other than send and the listings.
func (ctl *Control) phoneAction(ctx context.Context, p *Phone, action string, r *http.Request) (any, error) {
	var req struct {
		To         string   `json:"to"`
		Chat       string   `json:"chat"`
		Sender     string   `json:"sender"`
		ID         string   `json:"id"`
		IDs        []string `json:"ids"`
		Emoji      string   `json:"emoji"`
		DataBase64 string   `json:"data_base64"`
		Mimetype   string   `json:"mimetype"`
		Caption    string   `json:"caption"`
		Typing     bool     `json:"typing"`
	}
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	switch action {
	case "image":
		to, err := parseUserOrGroup(req.To)
		if err != nil {
			return nil, err
		}
		data, err := base64.StdEncoding.DecodeString(req.DataBase64)
		if err != nil || len(data) == 0 {
			return nil, badRequest("data_base64 must be the image in standard base64")
		}
		if req.Mimetype == "" {
			req.Mimetype = http.DetectContentType(data)
		}
		resp, err := p.SendImage(ctx, to, data, req.Mimetype, req.Caption)
		if err != nil {
			return nil, err
		}
		return map[string]string{"id": resp.ID}, nil
	case "react":
		chat, err := parseUserOrGroup(req.Chat)
		if err != nil {
			return nil, err
		}
		sender, err := parseUserOrGroup(req.Sender)
		if err != nil {
			return nil, err
		}
		if req.ID == "" {
			return nil, badRequest("id (the message reacted to) is required")
		}
		resp, err := p.React(ctx, chat, sender, req.ID, req.Emoji)
		if err != nil {
			return nil, err
		}
		return map[string]string{"id": resp.ID}, nil
	case "read":
		chat, err := parseUserOrGroup(req.Chat)
		if err != nil {
			return nil, err
		}
		sender, err := parseUserOrGroup(req.Sender)
		if err != nil {
			return nil, err
		}
		if len(req.IDs) == 0 {
			return nil, badRequest("ids (the messages read) is required")
		}
		return map[string]string{}, p.MarkRead(ctx, chat, sender, req.IDs...)
	default: // typing
		chat, err := parseUserOrGroup(req.Chat)
		if err != nil {
			return nil, err
		}
		return map[string]string{}, p.Typing(ctx, chat, req.Typing)
	}
}

// onlySenderKey reports whether a message carries nothing but a group sender key (whatsmeow
// dispatches those as messages of their own).
func onlySenderKey(msg *waE2E.Message) bool {
	if msg.GetSenderKeyDistributionMessage() == nil {
		return false
	}
	rest := proto.Clone(msg).(*waE2E.Message)
	rest.SenderKeyDistributionMessage = nil
	rest.MessageContextInfo = nil
	return proto.Size(rest) == 0
}
