package tgexport

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"time"
)

// Options tune how an export is read.
type Options struct {
	// Name identifies the file in error messages, e.g. the path of
	// result.json.
	Name string
	// Location is the time zone in which to read wall-clock dates of
	// exports that lack the *_unixtime fields (Telegram Desktop before
	// 2.9). Those dates are in the zone of the computer that exported
	// them, which the file does not say. Nil means UTC.
	Location *time.Location
}

// Reader streams the messages of a result.json. Create it with NewReader,
// then either range over All or call Next until io.EOF. It is not safe for
// concurrent use.
type Reader struct {
	dec         *json.Decoder
	opts        Options
	path        jsonPath
	chats       []*Chat
	unsupported []Unsupported
	started     bool

	next func() (*Message, error, bool)
	stop func()
}

// errStop ends the walk when the consumer stops ranging.
var errStop = errors.New("stopped")

// NewReader returns a Reader over r. Nothing is read until All or Next.
func NewReader(r io.Reader, opts Options) *Reader {
	if opts.Location == nil {
		opts.Location = time.UTC
	}
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	dec.UseNumber()
	return &Reader{dec: dec, opts: opts}
}

// All yields every message in file order. A problem with the file is
// yielded last as (nil, *Error); messages before it have been yielded
// already. All can be ranged over only once.
func (r *Reader) All() iter.Seq2[*Message, error] {
	return func(yield func(*Message, error) bool) {
		if r.started {
			yield(nil, errors.New("tgexport: the export has already been read; create a new Reader"))
			return
		}
		r.started = true
		err := r.walk(func(m *Message) bool { return yield(m, nil) })
		if err != nil && !errors.Is(err, errStop) {
			yield(nil, err)
		}
	}
}

// Next returns the next message, or io.EOF after the last one. Call Close
// if you stop before io.EOF.
func (r *Reader) Next() (*Message, error) {
	if r.next == nil {
		r.next, r.stop = iter.Pull2(r.All())
	}
	m, err, ok := r.next()
	if !ok {
		return nil, io.EOF
	}
	return m, err
}

// Close releases the pull iterator started by Next. It does not close the
// underlying io.Reader.
func (r *Reader) Close() {
	if r.stop != nil {
		r.stop()
	}
}

// Offset returns how many bytes of the input have been consumed, for
// progress reports against the file size.
func (r *Reader) Offset() int64 { return r.dec.InputOffset() }

// Chats returns the chats seen so far, in file order.
func (r *Reader) Chats() []*Chat { return r.chats }

// Unsupported returns top-level sections that are not chat history (for a
// whole-account export: "about", "personal_information", "contacts", ...)
// with their raw JSON.
func (r *Reader) Unsupported() []Unsupported { return r.unsupported }

// ReadAll reads a whole export into memory. It is meant for small exports
// and tests; it returns no messages at all when the file has a problem.
func ReadAll(rd io.Reader, opts Options) ([]*Message, []*Chat, error) {
	r := NewReader(rd, opts)
	var msgs []*Message
	for m, err := range r.All() {
		if err != nil {
			return nil, nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, r.Chats(), nil
}

func (r *Reader) fail(err error) error {
	var e *Error
	if errors.As(err, &e) {
		return err
	}
	var syn *json.SyntaxError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("the file ends in the middle of the JSON (truncated export? copy it again): %w", err)
	case errors.As(err, &syn):
		err = fmt.Errorf("invalid JSON: %w", err)
	}
	return &Error{File: r.opts.Name, Path: r.path.String(), Offset: r.dec.InputOffset(), Err: err}
}

func (r *Reader) failf(format string, args ...any) error {
	return r.fail(fmt.Errorf(format, args...))
}

func (r *Reader) push(seg string) { r.path = append(r.path, seg) }
func (r *Reader) pop()            { r.path = r.path[:len(r.path)-1] }

// token reads one token; io.EOF inside the document is a truncation.
func (r *Reader) token() (json.Token, error) {
	tok, err := r.dec.Token()
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return nil, r.fail(err)
	}
	return tok, nil
}

func (r *Reader) expectDelim(want json.Delim, what string) error {
	tok, err := r.token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return r.failf("%s must be %s, found %s", what, delimName(want), describeToken(tok))
	}
	return nil
}

func (r *Reader) objectKey() (string, error) {
	tok, err := r.token()
	if err != nil {
		return "", err
	}
	k, ok := tok.(string)
	if !ok {
		return "", r.failf("expected an object key, found %s", describeToken(tok))
	}
	return k, nil
}

func (r *Reader) decode(v any) error {
	if err := r.dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			err = fmt.Errorf("wrong type: found a JSON %s, want %s", te.Value, goTypeName(te.Type.String()))
		}
		return r.fail(err)
	}
	return nil
}

func goTypeName(t string) string {
	switch t {
	case "string", "*string":
		return "a string"
	case "int64", "json.Number":
		return "a number"
	case "map[string]json.RawMessage":
		return "an object"
	}
	return t
}

func delimName(d json.Delim) string {
	switch d {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return string(d)
}

func describeToken(tok json.Token) string {
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			return "an object"
		case '[':
			return "an array"
		}
		return fmt.Sprintf("%q", string(t))
	case string:
		return "a string"
	case json.Number, float64:
		return "a number"
	case bool:
		return "a boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", tok)
}

// walk reads the top-level object. Single-chat exports are themselves a
// chat object; whole-account exports hold chats under "chats" and
// "left_chats".
func (r *Reader) walk(yield func(*Message) bool) error {
	tok, err := r.dec.Token()
	if errors.Is(err, io.EOF) {
		return r.failf("%w: the file is empty", ErrNotExport)
	}
	if err != nil {
		return r.fail(err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return r.failf("%w: the top level is %s, not an object", ErrNotExport, describeToken(tok))
	}
	top := &Chat{Path: "$"}
	var haveID, haveHistory bool
	for r.dec.More() {
		k, err := r.objectKey()
		if err != nil {
			return err
		}
		r.push(key(k))
		switch k {
		case "id":
			if top.ID, err = r.readInt(); err != nil {
				return err
			}
			haveID = true
		case "name":
			if top.Name, err = r.readString(); err != nil {
				return err
			}
		case "type":
			if top.Type, err = r.readString(); err != nil {
				return err
			}
		case "messages":
			if !haveID {
				return r.failf("%w: a chat's \"id\" must come before its \"messages\"", ErrNotExport)
			}
			haveHistory = true
			r.chats = append(r.chats, top)
			if err := r.walkMessages(top, yield); err != nil {
				return err
			}
		case "chats", "left_chats":
			haveHistory = true
			if err := r.walkChatSection(k == "left_chats", yield); err != nil {
				return err
			}
		default:
			var raw json.RawMessage
			if err := r.decode(&raw); err != nil {
				return err
			}
			r.unsupported = append(r.unsupported, Unsupported{Path: r.path.String(), Raw: raw})
		}
		r.pop()
	}
	if _, err := r.token(); err != nil { // the closing brace
		return err
	}
	if !haveHistory {
		return r.failf("%w: it has neither \"messages\" (one chat) nor \"chats\" (whole account); export again as \"Machine-readable JSON\" with chats selected", ErrNotExport)
	}
	if tok, err := r.dec.Token(); !errors.Is(err, io.EOF) {
		if err != nil {
			return r.fail(err)
		}
		return r.failf("unexpected %s after the end of the export", describeToken(tok))
	}
	return nil
}

func (r *Reader) walkChatSection(left bool, yield func(*Message) bool) error {
	if err := r.expectDelim('{', "this section"); err != nil {
		return err
	}
	for r.dec.More() {
		k, err := r.objectKey()
		if err != nil {
			return err
		}
		r.push(key(k))
		if k == "list" {
			if err := r.walkChatList(left, yield); err != nil {
				return err
			}
		} else {
			var raw json.RawMessage
			if err := r.decode(&raw); err != nil {
				return err
			}
			if k != "about" {
				r.unsupported = append(r.unsupported, Unsupported{Path: r.path.String(), Raw: raw})
			}
		}
		r.pop()
	}
	_, err := r.token()
	return err
}

func (r *Reader) walkChatList(left bool, yield func(*Message) bool) error {
	if err := r.expectDelim('[', "the chat list"); err != nil {
		return err
	}
	for i := 0; r.dec.More(); i++ {
		r.push(index(i))
		if err := r.walkChat(left, yield); err != nil {
			return err
		}
		r.pop()
	}
	_, err := r.token()
	return err
}

func (r *Reader) walkChat(left bool, yield func(*Message) bool) error {
	if err := r.expectDelim('{', "a chat"); err != nil {
		return err
	}
	chat := &Chat{Left: left, Path: r.path.String()}
	r.chats = append(r.chats, chat)
	haveID := false
	for r.dec.More() {
		k, err := r.objectKey()
		if err != nil {
			return err
		}
		r.push(key(k))
		switch k {
		case "id":
			if chat.ID, err = r.readInt(); err != nil {
				return err
			}
			haveID = true
		case "name":
			if chat.Name, err = r.readString(); err != nil {
				return err
			}
		case "type":
			if chat.Type, err = r.readString(); err != nil {
				return err
			}
		case "messages":
			if !haveID {
				return r.failf("a chat's \"id\" must come before its \"messages\"")
			}
			if err := r.walkMessages(chat, yield); err != nil {
				return err
			}
		default:
			var raw json.RawMessage
			if err := r.decode(&raw); err != nil {
				return err
			}
			chat.Unsupported = append(chat.Unsupported, Unsupported{Path: r.path.String(), Raw: raw})
		}
		r.pop()
	}
	if !haveID {
		return r.failf("the chat has no \"id\"")
	}
	_, err := r.token()
	return err
}

func (r *Reader) walkMessages(chat *Chat, yield func(*Message) bool) error {
	if err := r.expectDelim('[', "\"messages\""); err != nil {
		return err
	}
	for i := 0; r.dec.More(); i++ {
		r.push(index(i))
		var fields map[string]json.RawMessage
		if err := r.decode(&fields); err != nil {
			return err
		}
		if fields == nil {
			return r.failf("a message must be an object, found null")
		}
		m, err := decodeMessage(fields, chat, r.path.String(), r.opts.Location)
		if err != nil {
			var fe *fieldError
			if errors.As(err, &fe) {
				r.push(fe.field)
				return r.fail(fe.err)
			}
			return r.fail(err)
		}
		if !yield(m) {
			return errStop
		}
		r.pop()
	}
	_, err := r.token()
	return err
}

func (r *Reader) readInt() (int64, error) {
	var raw json.RawMessage
	if err := r.decode(&raw); err != nil {
		return 0, err
	}
	n, err := rawInt(raw)
	if err != nil {
		return 0, r.fail(err)
	}
	return n, nil
}

func (r *Reader) readString() (string, error) {
	var s *string
	if err := r.decode(&s); err != nil {
		return "", err
	}
	if s == nil {
		return "", nil
	}
	return *s, nil
}
