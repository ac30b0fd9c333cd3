package importer

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"sync"

	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/mxconn"
)

// Event is one line of the endpoint's answer (newline-delimited JSON): progress while the import
// runs, then exactly one summary or error.
type Event struct {
	Progress *Progress `json:"progress,omitempty"`
	Summary  *Summary  `json:"summary,omitempty"`
	Error    string    `json:"error,omitempty"`
}

// serveImport runs an import for the CLI: the request body is the export (a .zip, result.json or
// chat .txt), the query holds user_id, network, filename and the Options; the answer streams
// progress. Authentication is the provisioning shared secret, as for bridgev2's provisioning API
// (whose middleware caps bodies at 64 KiB, so it cannot be reused for uploads).
func (im *Importer) serveImport(w http.ResponseWriter, r *http.Request) {
	var secret string
	if mc, ok := mxconn.Of(im.br.Matrix); ok {
		secret = mc.Config.Provisioning.SharedSecret
	}
	if len(secret) < 16 || secret == "disable" {
		writeError(w, http.StatusForbidden, "the provisioning API is disabled: set provisioning.shared_secret in the bridge config to use `passerelle import`")
		return
	}
	auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if subtle.ConstantTimeCompare([]byte(auth), []byte(secret)) != 1 {
		writeError(w, http.StatusUnauthorized, "invalid or missing provisioning shared secret")
		return
	}
	q := r.URL.Query()
	userID := id.UserID(q.Get("user_id"))
	if _, _, err := userID.Parse(); err != nil {
		writeError(w, http.StatusBadRequest, "user_id: give the Matrix ID of the person whose history this is (@name:server)")
		return
	}
	ctx := r.Context()
	user, err := im.br.GetUserByMXID(ctx, userID)
	if err != nil || user == nil {
		writeError(w, http.StatusInternalServerError, "get user "+string(userID)+": "+errString(err))
		return
	}
	if !user.Permissions.Login {
		writeError(w, http.StatusForbidden, string(userID)+" may not use this bridge (bridge.permissions)")
		return
	}
	opts := Options{Room: q.Get("room"), Chat: q.Get("chat"), Me: q.Get("me"), TZ: q.Get("tz"), DateOrder: q.Get("date_order")}
	req, err := opts.request(user, q.Get("network"))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	req.FileName = safeBase(q.Get("filename"))
	dir, err := os.MkdirTemp("", "passerelle-import-")
	if err != nil {
		writeError(w, http.StatusInternalServerError, "staging directory: "+err.Error())
		return
	}
	defer os.RemoveAll(dir)
	req.Path, req.FileName, err = stage(dir, req.Network, req.FileName, http.MaxBytesReader(w, r.Body, MaxUploadSize))
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	emit := func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	req.Progress = func(p Progress) { emit(Event{Progress: &p}) }
	// A closed request (the CLI interrupted) stops the import before the next message, never in
	// the middle of one: the send in flight completes and is recorded, and a re-run continues.
	req.Stop = ctx
	sum, err := im.Run(context.WithoutCancel(ctx), req)
	if err != nil {
		emit(Event{Error: err.Error()})
		return
	}
	emit(Event{Summary: sum})
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(Event{Error: msg})
}

func errString(err error) string {
	if err == nil {
		return "no such user"
	}
	return err.Error()
}
