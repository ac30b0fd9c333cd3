package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"

	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// adminHandler lets a demo script drive the server over loopback HTTP:
//
//	GET  /code?phone=P                       last login code sent to P
//	POST /qr    {"phone": P, "url": "tg://login?token=…"}   accept a QR login as P
//	POST /send  {"from": P, "to_phone": Q | "to_chat": ID | "to_channel": ID, "text": T}
func adminHandler(srv *tgtestserver.Server) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /code", func(w http.ResponseWriter, r *http.Request) {
		code, ok := srv.LastCode(r.URL.Query().Get("phone"))
		if !ok {
			http.Error(w, "no code was sent to that phone: start a login first", http.StatusNotFound)
			return
		}
		_, _ = fmt.Fprintln(w, code)
	})
	mux.HandleFunc("POST /qr", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Phone string `json:"phone"`
			URL   string `json:"url"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "body must be JSON {\"phone\", \"url\"}: "+err.Error(), http.StatusBadRequest)
			return
		}
		a, ok := srv.ActorByPhone(req.Phone)
		if !ok {
			http.Error(w, "no account with phone "+req.Phone, http.StatusNotFound)
			return
		}
		if err := a.AcceptLoginURL(req.URL); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprintln(w, "accepted")
	})
	mux.HandleFunc("POST /send", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			From      string `json:"from"`
			ToPhone   string `json:"to_phone"`
			ToChat    int64  `json:"to_chat"`
			ToChannel int64  `json:"to_channel"`
			Text      string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "body must be JSON {\"from\", \"to_phone\"|\"to_chat\"|\"to_channel\", \"text\"}: "+err.Error(), http.StatusBadRequest)
			return
		}
		a, ok := srv.ActorByPhone(req.From)
		if !ok {
			http.Error(w, "no account with phone "+req.From, http.StatusNotFound)
			return
		}
		var to tgtestserver.Peer
		switch {
		case req.ToPhone != "":
			b, ok := srv.ActorByPhone(req.ToPhone)
			if !ok {
				http.Error(w, "no account with phone "+req.ToPhone, http.StatusNotFound)
				return
			}
			to = tgtestserver.UserPeer(b.ID())
		case req.ToChat != 0:
			to = tgtestserver.ChatPeer(req.ToChat)
		case req.ToChannel != 0:
			to = tgtestserver.ChannelPeer(req.ToChannel)
		default:
			http.Error(w, "set one of to_phone, to_chat, to_channel", http.StatusBadRequest)
			return
		}
		sent, err := a.SendText(to, req.Text)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		_, _ = fmt.Fprintln(w, strconv.Itoa(sent.ID))
	})
	return mux
}
