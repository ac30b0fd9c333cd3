package importer

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/passerelle-bridge/passerelle/portal"
)

// MaxUploadSize bounds an export sent to the bridge (management room upload or the CLI).
const MaxUploadSize int64 = 8 << 30

// maxExtractedSize bounds what a Telegram zip may expand to (zip bombs).
const maxExtractedSize int64 = 32 << 30

var zipMagic = []byte("PK\x03\x04")

// stage writes an uploaded export into dir and returns the path to give the parser: for
// Telegram, the folder holding result.json (a zip is unpacked); for WhatsApp, the .zip or .txt
// under its original name, since WhatsApp names the chat only in the file name. display is the
// name errors should use: the upload's name, with the path of result.json inside a zip.
func stage(dir string, n portal.Network, fileName string, body io.Reader) (p, display string, err error) {
	base := safeBase(fileName)
	br := bufio.NewReader(body)
	head, _ := br.Peek(4)
	isZip := bytes.Equal(head, zipMagic)
	switch n {
	case portal.Telegram:
		if !isZip {
			if len(head) == 0 || !bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n\xef\xbb\xbf"), []byte("{")) && len(bytes.TrimSpace(head)) > 0 {
				return "", "", fmt.Errorf("%s: not a Telegram export: send result.json (\"Machine-readable JSON\" in Telegram Desktop) or a .zip of the export folder", fileName)
			}
			if err := writeFile(filepath.Join(dir, "result.json"), br); err != nil {
				return "", "", err
			}
			return dir, fileName, nil
		}
		zipPath := filepath.Join(dir, "upload.zip")
		if err := writeFile(zipPath, br); err != nil {
			return "", "", err
		}
		out := filepath.Join(dir, "export")
		if err := unzip(zipPath, out, fileName); err != nil {
			return "", "", err
		}
		_ = os.Remove(zipPath)
		found, err := findResultJSON(out, fileName)
		if err != nil {
			return "", "", err
		}
		rel, _ := filepath.Rel(out, filepath.Join(found, "result.json"))
		return found, fileName + "/" + filepath.ToSlash(rel), nil
	case portal.WhatsApp:
		ext := strings.ToLower(path.Ext(base))
		switch {
		case isZip && ext != ".zip":
			base += ".zip"
		case !isZip && ext == ".zip":
			return "", "", fmt.Errorf("%s: named .zip but is not a zip file (truncated upload?)", fileName)
		case !isZip && ext != ".txt":
			base += ".txt"
		}
		p = filepath.Join(dir, base)
		if err = writeFile(p, br); err != nil {
			return "", "", err
		}
		return p, fileName, nil
	}
	return "", "", fmt.Errorf("unknown network %q", n)
}

// safeBase keeps a file name usable on disk without letting it choose a directory.
func safeBase(name string) string {
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == '/' || r == 0x7f {
			return '_'
		}
		return r
	}, name)
	if name == "" || name == "." || name == ".." || name == "/" {
		return "export"
	}
	return name
}

func writeFile(p string, r io.Reader) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	n, err := io.Copy(f, io.LimitReader(r, MaxUploadSize+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("store upload: %w", err)
	}
	if n > MaxUploadSize {
		return fmt.Errorf("the export is larger than %s", humanSize(MaxUploadSize))
	}
	return nil
}

// unzip extracts a zip under out through an os.Root, so entry names cannot escape it.
func unzip(zipPath, out, display string) error {
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		return fmt.Errorf("%s: not a readable zip (truncated upload?): %w", display, err)
	}
	defer zr.Close()
	if err = os.MkdirAll(out, 0o700); err != nil {
		return fmt.Errorf("unpack %s: %w", display, err)
	}
	root, err := os.OpenRoot(out)
	if err != nil {
		return fmt.Errorf("unpack %s: %w", display, err)
	}
	defer root.Close()
	var total int64
	for _, f := range zr.File {
		name := strings.TrimPrefix(strings.ReplaceAll(f.Name, `\`, "/"), "/")
		if name == "" || strings.HasPrefix(name, "__MACOSX/") {
			continue
		}
		if !fs.ValidPath(strings.TrimSuffix(name, "/")) {
			return fmt.Errorf("%s: entry %q has an unsafe path", display, f.Name)
		}
		if f.FileInfo().IsDir() {
			if err = root.MkdirAll(strings.TrimSuffix(name, "/"), 0o700); err != nil {
				return fmt.Errorf("unpack %s: %w", display, err)
			}
			continue
		}
		if dir := path.Dir(name); dir != "." {
			if err = root.MkdirAll(dir, 0o700); err != nil {
				return fmt.Errorf("unpack %s: %w", display, err)
			}
		}
		if err = extractOne(root, f, name, &total); err != nil {
			return fmt.Errorf("%s: entry %s: %w", display, f.Name, err)
		}
	}
	return nil
}

func extractOne(root *os.Root, f *zip.File, name string, total *int64) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	w, err := root.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	n, err := io.Copy(w, io.LimitReader(rc, maxExtractedSize-*total+1))
	*total += n
	if cerr := w.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if *total > maxExtractedSize {
		return fmt.Errorf("the zip expands to more than %s", humanSize(maxExtractedSize))
	}
	return nil
}

// findResultJSON finds the export folder inside an unpacked zip: result.json at the top, or in
// the one folder Telegram Desktop creates (ChatExport_2023-12-30/).
func findResultJSON(out, display string) (string, error) {
	var found []string
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && d.Name() == "result.json" {
			found = append(found, filepath.Dir(p))
		}
		if d.IsDir() && strings.Count(strings.TrimPrefix(p, out), string(filepath.Separator)) > 2 {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("look for result.json in %s: %w", display, err)
	}
	switch len(found) {
	case 0:
		return "", errors.New(display + ": no result.json in the zip; export with \"Machine-readable JSON\" in Telegram Desktop and zip the export folder")
	case 1:
		return found[0], nil
	}
	return "", fmt.Errorf("%s: %d result.json files in the zip; import one export at a time", display, len(found))
}
