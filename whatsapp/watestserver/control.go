package watestserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// Control is a JSON-over-HTTP remote for a Server, for demos and tests that drive the WhatsApp
// side from another process or a shell. It keeps the phones it creates (in memory).
//
//	GET  /info                               proxy, root key, CA PEM
//	POST /pair/qr      {"phone","qr"}        scan a QR code as phone      → {"jid"}
//	POST /pair/code    {"phone","code"}      type a pairing code on phone → {"jid"}
//	POST /phones       {"phone","push_name"} start a contact's phone      → {"jid"}
//	POST /phones/{phone}/send {"to","text"}  send a text                  → {"id"}
//	GET  /phones/{phone}/messages            texts the phone received
//	POST /groups       {"creator","name","members"}                       → {"jid"}
//	POST /devices/logout {"jid"}             unlink a device
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

// ReceivedText is a text message a control phone received.
type ReceivedText struct {
	ID        string    `json:"id"`
	Chat      string    `json:"chat"`
	Sender    string    `json:"sender"`
	PushName  string    `json:"push_name"`
	Text      string    `json:"text"`
	Timestamp time.Time `json:"timestamp"`
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
		out := []ReceivedText{}
		for _, evt := range p.Events.Events() {
			m, ok := evt.(*events.Message)
			if !ok || textOf(m.Message) == "" {
				continue
			}
			out = append(out, ReceivedText{
				ID: m.Info.ID, Chat: m.Info.Chat.String(), Sender: m.Info.Sender.ToNonAD().String(),
				PushName: m.Info.PushName, Text: textOf(m.Message), Timestamp: m.Info.Timestamp,
			})
		}
		return out, nil
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
	case r.Method == http.MethodPost && r.URL.Path == "/devices/logout":
		var req struct{ JID string }
		if err := decodeBody(r, &req); err != nil {
			return nil, err
		}
		jid, err := types.ParseJID(req.JID)
		if err != nil {
			return nil, badRequest("jid %q: %v", req.JID, err)
		}
		if err = ctl.srv.LogoutDevice(jid); err != nil {
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
