package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle-bridge/passerelle/importer"
)

func TestParseImportArgs(t *testing.T) {
	cases := []struct {
		args []string
		want importArgs
		err  string
	}{
		{args: []string{"telegram", "/x/export", "--user", "@a:b"}, want: importArgs{network: "telegram", path: "/x/export", user: "@a:b", config: "config.yaml"}},
		{args: []string{"--user=@a:b", "-c", "/etc/p.yaml", "WhatsApp", "chat.zip", "--chat", "+33612345678", "--me", "Anna M", "--date-order", "mdy", "--tz", "Europe/Paris", "--json"},
			want: importArgs{network: "whatsapp", path: "chat.zip", user: "@a:b", config: "/etc/p.yaml", json: true,
				opts: importer.Options{Chat: "+33612345678", Me: "Anna M", DateOrder: "mdy", TZ: "Europe/Paris"}}},
		{args: []string{"telegram", "x", "--room", "!r:b", "--user", "@a:b", "--bridge", "http://127.0.0.1:1"},
			want: importArgs{network: "telegram", path: "x", user: "@a:b", config: "config.yaml", bridgeURL: "http://127.0.0.1:1", opts: importer.Options{Room: "!r:b"}}},
		{args: []string{"telegram"}, err: "give the app"},
		{args: []string{"signal", "x", "--user", "@a:b"}, err: `app "signal"`},
		{args: []string{"telegram", "x"}, err: "--user"},
		{args: []string{"telegram", "x", "--user", "alice"}, err: "--user"},
		{args: []string{"telegram", "x", "--user", "@a:b", "--bogus"}, err: "flag provided but not defined"},
	}
	for _, tc := range cases {
		got, err := parseImportArgs(tc.args, io.Discard)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.args, err, tc.err)
			}
			continue
		}
		if err != nil || *got != tc.want {
			t.Errorf("%q = %+v, %v\nwant %+v", tc.args, got, err, tc.want)
		}
	}
}

func TestBridgeEndpoint(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := filepath.Join(dir, "config.yaml")
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		cfg, override, base, err string
	}{
		{cfg: "appservice: {hostname: 0.0.0.0, port: 29340}\nprovisioning: {shared_secret: 0123456789abcdef0123}", base: "http://127.0.0.1:29340"},
		{cfg: "appservice: {hostname: '::1', port: 1}\nprovisioning: {shared_secret: 0123456789abcdef0123}", base: "http://[::1]:1"},
		{cfg: "appservice: {port: 1}\nprovisioning: {shared_secret: 0123456789abcdef0123}", override: "https://bridge.example/", base: "https://bridge.example"},
		{cfg: "appservice: {port: 1}\nprovisioning: {shared_secret: generate}", err: "provisioning.shared_secret is not set"},
		{cfg: "appservice: {port: 1}\nprovisioning: {shared_secret: disable}", err: "provisioning.shared_secret is not set"},
		{cfg: "provisioning: {shared_secret: 0123456789abcdef0123}", err: "appservice.port"},
		{cfg: "appservice: [", err: "parse"},
	}
	for _, tc := range cases {
		base, secret, err := bridgeEndpoint(write(tc.cfg), tc.override)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err = %v, want %q", tc.cfg, err, tc.err)
			}
			continue
		}
		if err != nil || base != tc.base || secret != "0123456789abcdef0123" {
			t.Errorf("%q = %q %q %v, want %q", tc.cfg, base, secret, err, tc.base)
		}
	}
	if _, _, err := bridgeEndpoint(filepath.Join(dir, "missing.yaml"), ""); err == nil || !strings.Contains(err.Error(), "-c") {
		t.Errorf("missing config: err = %v", err)
	}
}

func TestRenderProgress(t *testing.T) {
	cases := []struct {
		p    importer.Progress
		want string
	}{
		{importer.Progress{Total: 100, Done: 0}, "[          ]   0%  0/100"},
		{importer.Progress{Total: 100, Done: 45, ElapsedMS: 1000, ETAMS: 61000}, "[####      ]  45%  45/100  45 msg/s  ETA 1:01"},
		{importer.Progress{Total: 4, Done: 4, Failed: 1, ElapsedMS: 2000}, "[##########] 100%  4/4  2 msg/s  (1 failed)"},
	}
	for _, tc := range cases {
		if got := renderProgress(tc.p, 10); got != tc.want {
			t.Errorf("renderProgress(%+v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestUploadBodyZipsATelegramFolder(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ChatExport_2024")
	for rel, data := range map[string]string{"result.json": `{"messages": []}`, "photos/p.jpg": "JPEG"} {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		_ = os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	body, name, err := uploadBody(dir, "telegram")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(body)
	body.Close()
	if err != nil || name != "ChatExport_2024.zip" {
		t.Fatalf("uploadBody = %q, %v", name, err)
	}
	zr, err := zip.NewReader(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range zr.File {
		got[f.Name] = true
	}
	if !got["result.json"] || !got["photos/p.jpg"] || len(got) != 2 {
		t.Errorf("zip holds %v", got)
	}
	if _, _, err = uploadBody(dir, "whatsapp"); err == nil {
		t.Error("a folder was accepted as a WhatsApp export")
	}
	if _, _, err = uploadBody(filepath.Join(dir, "photos"), "telegram"); err == nil || !strings.Contains(err.Error(), "no result.json") {
		t.Errorf("folder without result.json: %v", err)
	}
}

// postImport speaks the bridge's protocol: query, bearer secret, the export as body, then
// progress lines and one summary or error.
func TestPostImport(t *testing.T) {
	export := filepath.Join(t.TempDir(), "WhatsApp Chat with Anna.txt")
	if err := os.WriteFile(export, []byte("31/12/2023, 21:41 - Anna: hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var gotQuery, gotAuth, gotBody string
	answer := ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != importer.ImportPath {
			http.NotFound(w, r)
			return
		}
		gotQuery, gotAuth = r.URL.RawQuery, r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		gotBody = string(b)
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	a := &importArgs{network: "whatsapp", path: export, user: "@a:b", opts: importer.Options{Chat: "+33612345678"}}
	progress := func(p importer.Progress) string {
		raw, _ := json.Marshal(importer.Event{Progress: &p})
		return string(raw) + "\n"
	}
	summary, _ := json.Marshal(importer.Event{Summary: &importer.Summary{Imported: 1, Rooms: []importer.RoomResult{{Chat: "Anna", RoomID: "!r:b"}}}})
	answer = progress(importer.Progress{Total: 1}) + progress(importer.Progress{Total: 1, Done: 1}) + string(summary) + "\n"
	var bar bytes.Buffer
	sum, err := postImport(context.Background(), srv.URL, "sekrit", a, newProgressBar(&bar, true))
	if err != nil || sum.Imported != 1 || sum.Rooms[0].RoomID != "!r:b" {
		t.Fatalf("postImport = %+v, %v", sum, err)
	}
	if gotAuth != "Bearer sekrit" || !strings.Contains(gotQuery, "user_id=%40a%3Ab") || !strings.Contains(gotQuery, "chat=%2B33612345678") ||
		!strings.Contains(gotQuery, "network=whatsapp") || !strings.Contains(gotQuery, "filename=WhatsApp+Chat+with+Anna.txt") || !strings.HasPrefix(gotBody, "31/12/2023") {
		t.Errorf("request: auth %q query %q body %q", gotAuth, gotQuery, gotBody)
	}
	if !strings.Contains(bar.String(), "1/1") {
		t.Errorf("progress not shown: %q", bar.String())
	}

	answer = progress(importer.Progress{Total: 1}) + `{"error": "chat.txt:3: bad date"}` + "\n"
	if _, err = postImport(context.Background(), srv.URL, "s", a, newProgressBar(io.Discard, true)); err == nil || err.Error() != "chat.txt:3: bad date" {
		t.Errorf("error line: %v", err)
	}
	answer = progress(importer.Progress{Total: 1})
	if _, err = postImport(context.Background(), srv.URL, "s", a, newProgressBar(io.Discard, true)); err == nil || !strings.Contains(err.Error(), "without a summary") {
		t.Errorf("cut answer: %v", err)
	}
	if _, err = postImport(context.Background(), srv.URL+"/nothing", "s", a, newProgressBar(io.Discard, true)); err == nil || !strings.Contains(err.Error(), "HTTP 404") {
		t.Errorf("old bridge: %v", err)
	}
}

func TestRunImportExitCodes(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runImport([]string{"-h"}, &out, &errOut); code != 0 || !strings.Contains(errOut.String(), "Usage: passerelle import") {
		t.Errorf("-h: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := runImport([]string{"telegram", "x", "--user", "@a:b", "-c", filepath.Join(t.TempDir(), "none.yaml")}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), "read bridge config") {
		t.Errorf("missing config: exit %d, %q", code, errOut.String())
	}
}
