package tgexport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// fieldError is a problem with one field of a message; the Reader turns the
// field name into part of the JSON path.
type fieldError struct {
	field string // e.g. ".date" or ".text_entities[2].type"
	err   error
}

func (e *fieldError) Error() string { return e.field + ": " + e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

// fields hands out the fields of one JSON object, remembering the first
// problem so that decoding code can stay linear. Fields that are taken are
// removed; whatever is left is unsupported.
type fields struct {
	m   map[string]json.RawMessage
	pre string // path prefix of this object relative to the message
	err error
	// numericKind is the peer kind assumed for bare numeric IDs.
	numericKind PeerKind
}

func (f *fields) fail(k string, err error) {
	if f.err == nil {
		f.err = &fieldError{field: f.pre + "." + k, err: err}
	}
}

func (f *fields) has(k string) bool {
	_, ok := f.m[k]
	return ok
}

// take removes and returns a field; null counts as absent.
func (f *fields) take(k string) (json.RawMessage, bool) {
	raw, ok := f.m[k]
	if !ok {
		return nil, false
	}
	delete(f.m, k)
	if isNull(raw) {
		return nil, false
	}
	return raw, true
}

func isNull(raw json.RawMessage) bool {
	return bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func (f *fields) str(k string) string {
	raw, ok := f.take(k)
	if !ok {
		return ""
	}
	s, ok := rawString(raw)
	if !ok {
		f.fail(k, fmt.Errorf("want a string, found %s", kindOf(raw)))
	}
	return s
}

// rawString decodes a JSON string, taking a shortcut for the common case
// of no escapes (the decoder has already checked the syntax).
func rawString(raw json.RawMessage) (string, bool) {
	if n := len(raw); n >= 2 && raw[0] == '"' && raw[n-1] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : n-1]), true
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false
	}
	return s, true
}

func (f *fields) int(k string) int64 {
	raw, ok := f.take(k)
	if !ok {
		return 0
	}
	n, err := rawInt(raw)
	if err != nil {
		f.fail(k, err)
	}
	return n
}

func (f *fields) bool(k string) bool {
	raw, ok := f.take(k)
	if !ok {
		return false
	}
	var b bool
	if err := json.Unmarshal(raw, &b); err != nil {
		f.fail(k, fmt.Errorf("want true or false, found %s", kindOf(raw)))
	}
	return b
}

func (f *fields) float(k string) float64 {
	raw, ok := f.take(k)
	if !ok {
		return 0
	}
	var x float64
	if err := json.Unmarshal(raw, &x); err != nil {
		f.fail(k, fmt.Errorf("want a number, found %s", kindOf(raw)))
	}
	return x
}

// time reads a date given as "<k>_unixtime" (exact) and/or "<k>" (local
// wall time of the exporting computer).
func (f *fields) time(k string, loc *time.Location) time.Time {
	unixKey := k + "_unixtime"
	hasUnix := f.has(unixKey)
	wall := f.str(k)
	if hasUnix {
		n := f.int(unixKey)
		return time.Unix(n, 0).UTC()
	}
	if wall == "" {
		return time.Time{}
	}
	t, err := time.ParseInLocation("2006-01-02T15:04:05", wall, loc)
	if err != nil {
		f.fail(k, fmt.Errorf("want a date like 2023-12-31T21:41:05, found %q", wall))
	}
	return t
}

// peer reads a name and an ID. Current exports write IDs as "user123";
// old ones (Telegram Desktop 1.x) wrote bare numbers, which are taken as
// users, or as channels in channel chats (numericKind).
func (f *fields) peer(nameKey, idKey string) Peer {
	p := Peer{Name: f.str(nameKey)}
	raw, ok := f.take(idKey)
	if !ok {
		return p
	}
	if len(raw) > 0 && raw[0] != '"' {
		n, err := rawInt(raw)
		if err != nil {
			f.fail(idKey, fmt.Errorf("want an ID like \"user123\", found %s", kindOf(raw)))
			return p
		}
		p.Raw, p.ID, p.Kind = string(raw), n, PeerUser
		if f.numericKind != "" {
			p.Kind = f.numericKind
		}
		return p
	}
	if err := json.Unmarshal(raw, &p.Raw); err != nil {
		f.fail(idKey, err)
		return p
	}
	p.Kind, p.ID = splitPeer(p.Raw)
	return p
}

// rest returns the fields nobody took, sorted, as unsupported items.
func (f *fields) rest(path string) []Unsupported {
	if len(f.m) == 0 {
		return nil
	}
	keys := make([]string, 0, len(f.m))
	for k := range f.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Unsupported, 0, len(keys))
	for _, k := range keys {
		out = append(out, Unsupported{Path: path + f.pre + "." + k, Raw: f.m[k]})
	}
	return out
}

// rawInt accepts a JSON number or a string holding one: the export writes
// IDs as numbers but *_unixtime values as strings.
func rawInt(raw json.RawMessage) (int64, error) {
	s := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(s, `"`) {
		var q string
		if err := json.Unmarshal(raw, &q); err != nil {
			return 0, fmt.Errorf("want an integer, found %s", kindOf(raw))
		}
		s = q
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want an integer, found %s", kindOf(raw))
	}
	return n, nil
}

func kindOf(raw json.RawMessage) string {
	s := bytes.TrimSpace(raw)
	if len(s) == 0 {
		return "nothing"
	}
	switch s[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		if len(s) > 40 {
			return "a string"
		}
		return "the string " + string(s)
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "the number " + string(s)
}

// splitPeer splits "user123" into its kind and number. Unknown prefixes are
// kept in Raw only.
func splitPeer(raw string) (PeerKind, int64) {
	i := strings.IndexFunc(raw, func(r rune) bool { return r >= '0' && r <= '9' })
	if i <= 0 {
		return "", 0
	}
	n, err := strconv.ParseInt(raw[i:], 10, 64)
	if err != nil {
		return "", 0
	}
	switch k := PeerKind(raw[:i]); k {
	case PeerUser, PeerChannel, PeerChat:
		return k, n
	}
	return "", 0
}

var errNoID = errors.New("a message must have a numeric \"id\"")
