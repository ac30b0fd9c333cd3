package waexport

import (
	"archive/zip"
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Export is a parsed chat with access to its media.
type Export struct {
	// Name is the chat .txt (inside the zip, or on disk).
	Name string
	// ChatName is the chat's name as the file names it ("WhatsApp Chat
	// with Alice.txt", "WhatsApp Chat - Alice.zip") or, for iOS, as its
	// system events show it; "" if unknown. It is a display name, not a
	// stable identifier.
	ChatName string
	Platform Platform
	// DateOrder is the order used and DateOrderReason why, for showing to
	// the person importing.
	DateOrder       DateOrder
	DateOrderReason string
	Messages        []*Message

	zr     *zip.Reader
	closer io.Closer
	files  map[string]*zip.File // zip media by name
	root   *os.Root             // folder next to a .txt
}

// ParseFile parses a .zip export, a chat .txt, or a folder holding an
// unpacked export. For a .txt, media are looked up in the same folder.
// Close the Export when done.
func ParseFile(name string, opts Options) (*Export, error) {
	if strings.EqualFold(filepath.Ext(name), ".zip") {
		f, err := os.Open(name)
		if err != nil {
			return nil, fmt.Errorf("open WhatsApp export: %w", err)
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open WhatsApp export: %w", err)
		}
		if opts.Name == "" {
			opts.Name = name
		}
		exp, err := ParseZip(f, st.Size(), opts)
		if err != nil {
			f.Close()
			return nil, err
		}
		exp.closer = f
		if n := chatNameFromFile(filepath.Base(name)); n != "" {
			exp.ChatName = n
		}
		return exp, nil
	}
	if st, err := os.Stat(name); err == nil && st.IsDir() {
		txt, err := findChatInDir(name)
		if err != nil {
			return nil, &Error{File: name, Err: err}
		}
		name = txt
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open WhatsApp export: %w", err)
	}
	defer f.Close()
	if opts.Name == "" {
		opts.Name = name
	}
	exp, err := Parse(f, opts)
	if err != nil {
		return nil, err
	}
	if n := chatNameFromFile(filepath.Base(name)); n != "" {
		exp.ChatName = n
	}
	root, err := os.OpenRoot(filepath.Dir(name))
	if err != nil {
		return nil, fmt.Errorf("open folder of %s: %w", name, err)
	}
	exp.root = root
	exp.closer = root
	exp.resolveMedia()
	return exp, nil
}

// ParseZip parses a zip export: it finds the chat .txt (iOS "_chat.txt",
// Android "WhatsApp Chat with X.txt" or its translations) and indexes the
// media next to it. opts.Name should name the zip; the .txt is appended.
func ParseZip(r io.ReaderAt, size int64, opts Options) (*Export, error) {
	zipName := opts.Name
	if zipName == "" {
		zipName = "export.zip"
	}
	zr, err := zip.NewReader(r, size)
	if err != nil {
		return nil, &Error{File: zipName, Err: fmt.Errorf("not a readable zip (truncated download?): %w", err)}
	}
	chat, err := findChat(zr)
	if err != nil {
		return nil, &Error{File: zipName, Err: err}
	}
	rc, err := chat.Open()
	if err != nil {
		return nil, &Error{File: zipName + "/" + chat.Name, Err: fmt.Errorf("open: %w", err)}
	}
	defer rc.Close()
	opts.Name = zipName + "/" + chat.Name
	exp, err := Parse(rc, opts)
	if err != nil {
		return nil, err
	}
	if n := chatNameFromFile(path.Base(chat.Name)); n != "" {
		exp.ChatName = n
	}
	exp.zr = zr
	exp.files = map[string]*zip.File{}
	dir := path.Dir(chat.Name)
	for _, f := range zr.File {
		if path.Dir(f.Name) == dir && !f.FileInfo().IsDir() {
			exp.files[path.Base(f.Name)] = f
		}
	}
	exp.resolveMedia()
	return exp, nil
}

// findChat picks the chat .txt among the zip's entries. A zip may also
// hold .txt documents that were sent in the chat, so names are preferred
// in this order: "_chat.txt", names containing "WhatsApp", then any .txt
// whose first line looks like a WhatsApp message.
func findChat(zr *zip.Reader) (*zip.File, error) {
	var txts []*zip.File
	for _, f := range zr.File {
		if strings.HasPrefix(f.Name, "__MACOSX/") || f.FileInfo().IsDir() {
			continue
		}
		if strings.EqualFold(path.Ext(f.Name), ".txt") {
			txts = append(txts, f)
		}
	}
	slices.SortStableFunc(txts, func(a, b *zip.File) int { return chatRank(a.Name) - chatRank(b.Name) })
	for _, f := range txts {
		rc, err := f.Open()
		if err != nil {
			continue
		}
		ok := looksLikeChat(rc)
		rc.Close()
		if ok {
			return f, nil
		}
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
		if len(names) == 5 {
			names = append(names, "…")
			break
		}
	}
	return nil, fmt.Errorf("%w: the zip holds no chat .txt (entries: %s); use the zip WhatsApp's \"Export chat\" made", ErrNotExport, strings.Join(names, ", "))
}

// chatRank orders candidate names: "_chat.txt" (iOS), then names with
// "WhatsApp" in them (Android, in any language), then the rest.
func chatRank(name string) int {
	base := path.Base(name)
	switch {
	case base == "_chat.txt":
		return 0
	case strings.Contains(strings.ToLower(base), "whatsapp"):
		return 1
	}
	return 2
}

// findChatInDir finds the chat .txt of an unpacked export.
func findChatInDir(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", fmt.Errorf("read folder: %w", err)
	}
	var txts []string
	for _, e := range entries {
		if e.Type().IsRegular() && strings.EqualFold(filepath.Ext(e.Name()), ".txt") {
			txts = append(txts, e.Name())
		}
	}
	slices.SortStableFunc(txts, func(a, b string) int { return chatRank(a) - chatRank(b) })
	for _, n := range txts {
		f, err := os.Open(filepath.Join(dir, n))
		if err != nil {
			continue
		}
		ok := looksLikeChat(f)
		f.Close()
		if ok {
			return filepath.Join(dir, n), nil
		}
	}
	return "", fmt.Errorf("%w: the folder holds no chat .txt (%d .txt files checked); give the .zip or the chat .txt WhatsApp's \"Export chat\" made", ErrNotExport, len(txts))
}

// looksLikeChat reports whether the first non-blank line of r is a
// WhatsApp message line.
func looksLikeChat(r io.Reader) bool {
	sc := bufio.NewScanner(io.LimitReader(r, 64<<10))
	sc.Buffer(make([]byte, 64<<10), 64<<10)
	for sc.Scan() {
		l := strings.TrimPrefix(sc.Text(), "\ufeff")
		if strings.TrimSpace(trimBidi(l)) == "" {
			continue
		}
		_, ok := parseHeader(l)
		return ok
	}
	return false
}

var chatNameRe = regexp.MustCompile(`^(?:WhatsApp Chat (?:with|mit|con|com|met) |WhatsApp Chat - |Discussion WhatsApp avec |Chat de WhatsApp con |Conversa do WhatsApp com )(.+?)(?: \(\d+\))?\.(?:txt|zip)$`)

func chatNameFromFile(base string) string {
	if sm := chatNameRe.FindStringSubmatch(base); sm != nil {
		return sm[1]
	}
	return ""
}

// resolveMedia marks which attachments are in the export and their sizes.
func (e *Export) resolveMedia() {
	for _, m := range e.Messages {
		if m.Media != nil && m.Media.Path != "" {
			m.Media.Size, m.Media.Present = e.stat(m.Media.Path)
		}
		if m.Contact != nil && m.Contact.VCard != "" {
			if _, ok := e.stat(m.Contact.VCard); ok {
				e.readVCard(m.Contact)
			} else {
				m.Contact.VCard = ""
			}
		}
	}
}

func (e *Export) stat(name string) (int64, bool) {
	if !fs.ValidPath(name) || strings.Contains(name, "/") {
		return 0, false
	}
	if e.files != nil {
		if f, ok := e.files[name]; ok {
			return int64(f.UncompressedSize64), true
		}
		return 0, false
	}
	if e.root != nil {
		if st, err := e.root.Stat(name); err == nil && st.Mode().IsRegular() {
			return st.Size(), true
		}
	}
	return 0, false
}

// OpenMedia opens an attachment (Media.Path or Contact.VCard) of a zip or
// folder export.
func (e *Export) OpenMedia(name string) (io.ReadCloser, error) {
	if name == "" || !fs.ValidPath(name) || strings.Contains(name, "/") {
		return nil, fmt.Errorf("open media %q: not a file name of this export", name)
	}
	if e.files != nil {
		f, ok := e.files[name]
		if !ok {
			return nil, fmt.Errorf("open media %s: not in %s: %w", name, e.Name, fs.ErrNotExist)
		}
		rc, err := f.Open()
		if err != nil {
			return nil, fmt.Errorf("open media %s: %w", name, err)
		}
		return rc, nil
	}
	if e.root == nil {
		return nil, fmt.Errorf("open media %s: the export was parsed from a stream without its media", name)
	}
	f, err := e.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open media %s: %w", name, err)
	}
	return f, nil
}

// Close releases the zip file or folder.
func (e *Export) Close() error {
	if e.closer == nil {
		return nil
	}
	err := e.closer.Close()
	e.closer = nil
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}
