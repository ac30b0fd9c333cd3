package importer

import (
	"archive/zip"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle-bridge/passerelle/portal"
)

func zipOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte(data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestStage(t *testing.T) {
	cases := []struct {
		name     string
		network  portal.Network
		file     string
		body     []byte
		wantRel  string // path relative to the staging dir
		display  string
		wantFile string // a file that must exist relative to the returned path
		err      string
	}{
		{name: "telegram json", network: portal.Telegram, file: "result.json", body: []byte(` {"messages": []}`), wantRel: ".", display: "result.json", wantFile: "result.json"},
		{name: "telegram zip with folder", network: portal.Telegram, file: "export.zip",
			body:    zipOf(t, map[string]string{"ChatExport_2023-12-30/result.json": "{}", "ChatExport_2023-12-30/photos/p.jpg": "x"}),
			wantRel: "export/ChatExport_2023-12-30", display: "export.zip/ChatExport_2023-12-30/result.json", wantFile: "photos/p.jpg"},
		{name: "telegram zip flat", network: portal.Telegram, file: "e.zip", body: zipOf(t, map[string]string{"result.json": "{}"}), wantRel: "export", display: "e.zip/result.json", wantFile: "result.json"},
		{name: "telegram zip without result.json", network: portal.Telegram, file: "e.zip", body: zipOf(t, map[string]string{"notes.txt": "x"}), err: "no result.json in the zip"},
		{name: "telegram zip with two exports", network: portal.Telegram, file: "e.zip", body: zipOf(t, map[string]string{"a/result.json": "{}", "b/result.json": "{}"}), err: "2 result.json files"},
		{name: "telegram zip escaping", network: portal.Telegram, file: "e.zip", body: zipOf(t, map[string]string{"../evil/result.json": "{}"}), err: "unsafe path"},
		{name: "telegram html export", network: portal.Telegram, file: "messages.html", body: []byte("<!DOCTYPE html>"), err: "not a Telegram export"},
		{name: "telegram truncated zip", network: portal.Telegram, file: "e.zip", body: zipOf(t, map[string]string{"result.json": "{}"})[:30], err: "not a readable zip"},
		{name: "whatsapp txt keeps its name", network: portal.WhatsApp, file: "WhatsApp Chat with Anna.txt", body: []byte("31/12/2023, 21:41 - A: b\n"), wantRel: "WhatsApp Chat with Anna.txt", display: "WhatsApp Chat with Anna.txt"},
		{name: "whatsapp zip without extension", network: portal.WhatsApp, file: "upload", body: zipOf(t, map[string]string{"_chat.txt": "x"}), wantRel: "upload.zip", display: "upload"},
		{name: "whatsapp fake zip", network: portal.WhatsApp, file: "chat.zip", body: []byte("hello"), err: "not a zip file"},
		{name: "name cannot choose the folder", network: portal.WhatsApp, file: "../../etc/passwd.txt", body: []byte("x"), wantRel: "passwd.txt", display: "../../etc/passwd.txt"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p, display, err := stage(dir, tc.network, tc.file, bytes.NewReader(tc.body))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rel, _ := filepath.Rel(dir, p); filepath.ToSlash(rel) != tc.wantRel || display != tc.display {
				t.Fatalf("staged at %q (%q), want %q (%q)", rel, display, tc.wantRel, tc.display)
			}
			if tc.wantFile != "" {
				if _, err = os.Stat(filepath.Join(p, tc.wantFile)); err != nil {
					t.Errorf("%s missing: %v", tc.wantFile, err)
				}
			}
		})
	}
}
