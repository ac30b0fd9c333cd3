package watestserver

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// MediaHost is the host name media is uploaded to and downloaded from.
const MediaHost = "mmg.whatsapp.net"

const maxMediaSize = 64 << 20

// mediaBlob is an uploaded (already encrypted) file.
type mediaBlob struct {
	data    []byte
	mmsType string
}

func (srv *Server) handleMediaConn(c *conn, node *waBinary.Node) {
	srv.replyIQ(c, node, []waBinary.Node{{
		Tag: "media_conn",
		Attrs: waBinary.Attrs{
			"auth":        srv.mediaAuth,
			"ttl":         3600,
			"auth_ttl":    21600,
			"max_buckets": 12,
		},
		Content: []waBinary.Node{{Tag: "host", Attrs: waBinary.Attrs{"hostname": MediaHost}}},
	}})
}

type uploadResponse struct {
	URL        string `json:"url"`
	DirectPath string `json:"direct_path"`
	Handle     string `json:"handle,omitempty"`
}

// serveUpload stores an upload (POST /mms/<type>/<token>?auth=…&token=…). The token is the
// base64url SHA-256 of the body, which is checked.
func (srv *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "uploads are POST", http.StatusMethodNotAllowed)
		return
	}
	if r.URL.Query().Get("auth") != srv.mediaAuth {
		http.Error(w, "bad media auth: fetch it with the media_conn query", http.StatusUnauthorized)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/mms/"), "/")
	if len(parts) != 2 {
		http.Error(w, "upload path must be /mms/<type>/<token>", http.StatusBadRequest)
		return
	}
	data, err := io.ReadAll(io.LimitReader(r.Body, maxMediaSize+1))
	if err != nil {
		http.Error(w, "read upload: "+err.Error(), http.StatusBadRequest)
		return
	}
	if len(data) > maxMediaSize {
		http.Error(w, "upload is over the 64 MiB limit of the test server", http.StatusRequestEntityTooLarge)
		return
	}
	sum := sha256.Sum256(data)
	token := base64.URLEncoding.EncodeToString(sum[:])
	if token != parts[1] {
		http.Error(w, "upload token is not the SHA-256 of the body", http.StatusBadRequest)
		return
	}
	key := randomString(32)
	srv.mu.Lock()
	srv.media[key] = &mediaBlob{data: data, mmsType: parts[0]}
	srv.mu.Unlock()
	directPath := "/v/t62.7118-24/" + key + "?ccb=11-4&oh=test&oe=test"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(uploadResponse{
		URL:        "https://" + MediaHost + directPath + "&_nc_cat=1",
		DirectPath: directPath,
	})
}

// serveDownload serves an uploaded file by its URL or direct path.
func (srv *Server) serveDownload(w http.ResponseWriter, r *http.Request) {
	key := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	srv.mu.Lock()
	blob := srv.media[key]
	srv.mu.Unlock()
	if blob == nil {
		http.Error(w, "no such media", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(blob.data)
}

// MediaCount is how many files have been uploaded.
func (srv *Server) MediaCount() int {
	srv.mu.Lock()
	defer srv.mu.Unlock()
	return len(srv.media)
}
