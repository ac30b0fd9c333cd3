package waexport

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ErrNotExport is wrapped by errors for files that are not WhatsApp chat
// exports at all.
var ErrNotExport = errors.New("not a WhatsApp chat export")

// Error locates a problem: the file and the 1-based line (0 when the
// problem is with the file as a whole).
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	file := e.File
	if file == "" {
		file = "chat.txt"
	}
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", file, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", file, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Options tune parsing.
type Options struct {
	// Name identifies the file in errors; ParseFile and ParseZip fill it.
	Name string
	// DateOrder overrides the detected order of day and month. Use it
	// when detection picks wrong (a short chat whose dates all have day
	// and month up to 12 cannot always be told apart) or when it reports
	// that dates disagree. With an explicit order, a line that looks like
	// a message start but whose date is impossible in that order is kept
	// as text of the message before it (it is pasted text).
	DateOrder DateOrder
	// Location is the time zone of the exporting phone, which the file
	// does not say. Nil means UTC. Wall times that do not exist in it
	// (the hour skipped when clocks go forward) are moved forward as
	// time.Date does; repeated ones (clocks going back) take the first.
	// Message keys use the wall time, so they do not depend on it.
	Location *time.Location
}

// MaxSize is the largest chat .txt accepted (the whole text is held in
// memory to detect the date order).
const MaxSize = 1 << 30

// Parse reads a chat .txt. Media are not available; use ParseFile or
// ParseZip for exports with media.
func Parse(r io.Reader, opts Options) (*Export, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxSize+1))
	if err != nil {
		return nil, &Error{File: opts.Name, Err: fmt.Errorf("read: %w", err)}
	}
	if len(data) > MaxSize {
		return nil, &Error{File: opts.Name, Err: fmt.Errorf("larger than %d bytes; split the export", MaxSize)}
	}
	return parseData(data, opts)
}

type rawMsg struct {
	line   int
	h      header
	prefix string // the timestamp part of the first line
	text   string // the first line after the timestamp, then the rest
	last   int    // index of the message's last line
	wall   wall
}

func parseData(data []byte, opts Options) (*Export, error) {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	fail := func(line int, err error) (*Export, error) {
		return nil, &Error{File: opts.Name, Line: line, Err: err}
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	lines := strings.Split(string(data), "\n")
	var (
		raws  []rawMsg
		style = -1 // 1 for iOS, 0 for Android, -1 before the first header
	)
	for i, l := range lines {
		lineNo := i + 1
		l = strings.TrimSuffix(l, "\r")
		lines[i] = l
		if strings.IndexByte(l, 0) >= 0 {
			return fail(lineNo, errors.New("the file contains NUL bytes: it is damaged or not text; export the chat again"))
		}
		if !utf8.ValidString(l) {
			return fail(lineNo, errors.New("the line is not valid UTF-8: the file is damaged or not a WhatsApp export"))
		}
		h, ok := parseHeader(l)
		if ok && style >= 0 && h.ios != (style == 1) {
			ok = false // the other platform's format inside a message: quoted text
		}
		if ok {
			if style < 0 {
				style = 0
				if h.ios {
					style = 1
				}
			}
			raws = append(raws, rawMsg{line: lineNo, h: h, prefix: l[:h.restStart], text: l[h.restStart:], last: i})
			continue
		}
		if style < 0 {
			if strings.TrimSpace(trimBidi(l)) == "" {
				continue
			}
			return fail(lineNo, fmt.Errorf("%w: the line does not start with a date and time like \"31/12/2023, 21:41 - \" or \"[31/12/2023, 21:41:05] \"", ErrNotExport))
		}
		raws[len(raws)-1].last = i
	}
	// Join continuation lines once, not line by line.
	for i := range raws {
		r := &raws[i]
		if first := r.line - 1; r.last > first {
			r.text += "\n" + strings.Join(lines[first+1:r.last+1], "\n")
		}
	}
	if len(raws) == 0 {
		return fail(0, fmt.Errorf("%w: the file is empty", ErrNotExport))
	}

	exp := &Export{Name: opts.Name, Platform: Android}
	if style == 1 {
		exp.Platform = IOS
	}
	order := opts.DateOrder
	exp.DateOrderReason = "set by option"
	if order == DateOrderAuto {
		hs := make([]header, len(raws))
		ls := make([]int, len(raws))
		for i, r := range raws {
			hs[i], ls[i] = r.h, r.line
		}
		var err error
		order, exp.DateOrderReason, err = detectOrder(hs, ls)
		if err != nil {
			return fail(0, err)
		}
	}
	exp.DateOrder = order

	valid := raws[:0]
	for _, r := range raws {
		w, err := r.h.wall(order)
		if err != nil {
			// With the order given explicitly, a line whose date cannot
			// be read that way is text someone pasted into a message
			// (the detection error for it pointed the user here).
			if opts.DateOrder != DateOrderAuto && len(valid) > 0 {
				last := &valid[len(valid)-1]
				last.text += "\n" + r.prefix + r.text
				continue
			}
			if opts.DateOrder != DateOrderAuto {
				err = fmt.Errorf("%w; check the date order option", err)
			}
			return fail(r.line, fmt.Errorf("impossible date or time: %w", err))
		}
		r.wall = w
		valid = append(valid, r)
	}

	seen := map[string]int{}
	exp.Messages = make([]*Message, 0, len(valid))
	for _, r := range valid {
		// Trailing empty lines belong to the file's end, not the message.
		r.text = strings.TrimRight(r.text, "\n")
		m := &Message{Line: r.line, Time: r.wall.time(opts.Location)}
		if hint := classify(m, r.text); hint != "" && exp.ChatName == "" {
			exp.ChatName = hint
		}
		m.Key = messageKey(r.wall, m, r.text, seen)
		exp.Messages = append(exp.Messages, m)
	}
	return exp, nil
}

// classify splits "Sender: text" from system lines and fills m. For iOS
// system events, written as messages from the chat, it returns the chat's
// name.
func classify(m *Message, text string) (chatName string) {
	// The whole text, since a new group subject may span lines.
	if s, ok := matchSystem(strings.TrimSpace(trimBidi(text))); ok {
		m.Service = s
		return ""
	}
	first, more, _ := strings.Cut(text, "\n")
	sender, body, ok := cutSender(first)
	if !ok {
		// A system line this package does not know: keep it.
		m.Service = &Service{Action: "other", Text: strings.TrimSpace(trimBidi(text))}
		return ""
	}
	switch {
	case body == "":
		body = more // "Ann:" alone on its line, the text below
	case more != "":
		body += "\n" + more
	}
	// iOS writes system events as messages from the chat itself, marked
	// with U+200E: "Group: ‎Alice added Bob".
	if strings.HasPrefix(body, "\u200e") && !strings.Contains(body, "\n") {
		if s, ok := matchSystem(strings.TrimSpace(trimBidi(body))); ok {
			m.Service = s
			return strings.TrimSpace(trimBidi(sender))
		}
	}
	m.Sender = parseSender(sender)
	fillBody(m, body)
	return ""
}

// cutSender splits "Name: text" at the first ": ".
func cutSender(line string) (string, string, bool) {
	if i := strings.Index(line, ": "); i > 0 {
		return line[:i], line[i+2:], true
	}
	if strings.HasSuffix(line, ":") && len(line) > 1 {
		return line[:len(line)-1], "", true
	}
	return "", "", false
}

// messageKey derives a key from what identifies a message across
// re-exports: wall time, sender and content. Identical repeats get "#n".
func messageKey(w wall, m *Message, text string, seen map[string]int) string {
	h := sha256.New()
	h.Write([]byte(w.String()))
	h.Write([]byte{0})
	h.Write([]byte(m.Sender.ID))
	h.Write([]byte{0})
	h.Write([]byte(text))
	key := "wa:" + w.String() + ":" + hex.EncodeToString(h.Sum(nil)[:10])
	n := seen[key]
	seen[key] = n + 1
	if n > 0 {
		key += "#" + strconv.Itoa(n)
	}
	return key
}
