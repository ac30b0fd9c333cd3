package tgexport

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"strings"
)

// Export is an export folder opened from disk: its result.json streamed by
// the embedded Reader, and its media files reachable through OpenMedia.
type Export struct {
	*Reader
	// Dir is the export folder; media paths are relative to it.
	Dir    string
	file   *os.File
	root   *os.Root
	closed bool
}

// Open opens an export given either its folder or its result.json. Media
// are opened through an os.Root on the folder, so a path in the JSON can
// never reach outside it. Close the Export when done.
func Open(path string, opts Options) (*Export, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("open Telegram export: %w", err)
	}
	jsonPath := path
	if st.IsDir() {
		jsonPath = filepath.Join(path, "result.json")
	}
	f, err := os.Open(jsonPath)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && st.IsDir() {
			if _, herr := os.Stat(filepath.Join(path, "messages.html")); herr == nil {
				return nil, fmt.Errorf("open Telegram export: %s is an HTML export, which cannot be imported; export again from Telegram Desktop choosing the format \"Machine-readable JSON\"", path)
			}
			return nil, fmt.Errorf("open Telegram export: %s has no result.json; choose \"Machine-readable JSON\" when exporting from Telegram Desktop", path)
		}
		return nil, fmt.Errorf("open Telegram export: %w", err)
	}
	dir := filepath.Dir(jsonPath)
	root, err := os.OpenRoot(dir)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open Telegram export folder %s: %w", dir, err)
	}
	if opts.Name == "" {
		opts.Name = jsonPath
	}
	return &Export{Reader: NewReader(f, opts), Dir: dir, file: f, root: root}, nil
}

// All is Reader.All with Media.Size filled in from the file on disk when
// the JSON does not give it.
func (e *Export) All() iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		for m, err := range e.Reader.All() {
			if m != nil {
				e.fillSize(m.Media)
				if m.Service != nil {
					e.fillSize(m.Service.Photo)
				}
			}
			if !yield(m, err) {
				return
			}
		}
	}
}

// Next is Reader.Next with sizes filled in as by All.
func (e *Export) Next() (*Message, error) {
	if e.Reader.next == nil {
		e.Reader.next, e.Reader.stop = iter.Pull2(e.All())
	}
	m, err, ok := e.Reader.next()
	if !ok {
		return nil, io.EOF
	}
	return m, err
}

func (e *Export) fillSize(m *Media) {
	if m == nil || m.Path == "" || m.Size != 0 {
		return
	}
	if n, err := e.MediaSize(m.Path); err == nil {
		m.Size = n
	}
}

// OpenMedia opens a media path of the export (Media.Path, Thumbnail,
// Contact.VCard) for reading.
func (e *Export) OpenMedia(rel string) (*os.File, error) {
	if rel == "" {
		return nil, fmt.Errorf("open media: empty path (the file is not part of the export)")
	}
	if err := checkRelPath(rel); err != nil {
		return nil, fmt.Errorf("open media: %w", err)
	}
	f, err := e.root.Open(nativePath(rel))
	if err != nil {
		return nil, fmt.Errorf("open media %s in %s: %w", rel, e.Dir, err)
	}
	return f, nil
}

// MediaSize returns the size on disk of a media path, for media whose size
// the JSON does not give.
func (e *Export) MediaSize(rel string) (int64, error) {
	if err := checkRelPath(rel); err != nil {
		return 0, fmt.Errorf("stat media: %w", err)
	}
	st, err := e.root.Stat(nativePath(rel))
	if err != nil {
		return 0, fmt.Errorf("stat media %s in %s: %w", rel, e.Dir, err)
	}
	return st.Size(), nil
}

// nativePath turns an export path (forward slashes, or backslashes from
// exports made on Windows) into one for this system.
func nativePath(rel string) string {
	return filepath.FromSlash(strings.ReplaceAll(rel, `\`, "/"))
}

// Close stops reading and closes the files. Closing twice is harmless.
func (e *Export) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	e.Reader.Close()
	return errors.Join(e.file.Close(), e.root.Close())
}
