package tgexport

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	good, err := os.ReadFile("testdata/single/result.json")
	if err != nil {
		t.Fatal(err)
	}
	msg := func(body string) string {
		return `{"name":"x","type":"personal_chat","id":5,"messages":[{"id":1,"type":"message","date_unixtime":"1700000000","text":"ok"},` + body + `]}`
	}
	tests := []struct {
		name      string
		in        string
		path      string // JSON path in the error
		contains  string
		notExport bool
	}{
		{"empty", "", "$", "empty", true},
		{"array top level", `[1,2]`, "$", "top level is an array", true},
		{"other JSON object", `{"version":3,"rows":[]}`, "$", "neither \"messages\"", true},
		{"truncated", string(good[:len(good)/2]), "$.messages[", "truncated", false},
		{"truncated in chat list", `{"chats":{"list":[{"id":1,"messages":[`, "$.chats.list[0].messages", "truncated", false},
		{"syntax error", msg(`{"id":2,,}`), "$.messages[1]", "invalid JSON", false},
		{"trailing data", `{"id":1,"messages":[]} {"id":2}`, "$", "after the end", false},
		{"id after messages", `{"messages":[],"id":1}`, "$.messages", "\"id\" must come before", true},
		{"messages not array", `{"id":1,"messages":{}}`, "$.messages", "must be an array", false},
		{"message not object", msg(`42`), "$.messages[1]", "wrong type", false},
		{"message null", msg(`null`), "$.messages[1]", "must be an object", false},
		{"no id", msg(`{"type":"message","date_unixtime":"1700000000"}`), "$.messages[1].id", "numeric \"id\"", false},
		{"id string", msg(`{"id":"seven","type":"message","date_unixtime":"1700000000"}`), "$.messages[1].id", "want an integer", false},
		{"no type", msg(`{"id":2,"date_unixtime":"1700000000"}`), "$.messages[1].type", "must have a \"type\"", false},
		{"no date", msg(`{"id":2,"type":"message","text":"x"}`), "$.messages[1].date", "must have a \"date\"", false},
		{"bad unixtime", msg(`{"id":2,"type":"message","date_unixtime":"soon"}`), "$.messages[1].date_unixtime", "want an integer", false},
		{"bad date", msg(`{"id":2,"type":"message","date":"31/12/2023"}`), "$.messages[1].date", "2023-12-31T21:41:05", false},
		{"text number", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","text":5}`), "$.messages[1].text", "string or an array", false},
		{"entity without type", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","text_entities":[{"type":"plain","text":"a"},{"text":"b"}]}`), "$.messages[1].text_entities[1].type", "must have a \"type\"", false},
		{"entity without text", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","text_entities":[{"type":"bold"}]}`), "$.messages[1].text_entities[0].text", "must have a \"text\"", false},
		{"entity href number", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","text_entities":[{"type":"text_link","text":"a","href":1}]}`), "$.messages[1].text_entities[0].href", "want a string", false},
		{"path escapes", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","photo":"../../etc/passwd"}`), "$.messages[1].photo", "leaves the export folder", false},
		{"absolute path", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","file":"/etc/passwd"}`), "$.messages[1].file", "absolute", false},
		{"width string", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","photo":"photos/a.jpg","width":"wide"}`), "$.messages[1].width", "want an integer", false},
		{"location not object", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","location_information":[1,2]}`), "$.messages[1].location_information", "want an object", false},
		{"latitude string", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","location_information":{"latitude":"north","longitude":1}}`), "$.messages[1].location_information.latitude", "want a number", false},
		{"poll without question", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","poll":{"answers":[]}}`), "$.messages[1].poll", "question", false},
		{"poll answer voters string", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","poll":{"question":"q","answers":[{"text":"a","voters":"x"}]}}`), "$.messages[1].poll.answers[0].voters", "want an integer", false},
		{"poll answers object", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","poll":{"question":"q","answers":{}}}`), "$.messages[1].poll.answers", "want an array", false},
		{"members not array", msg(`{"id":2,"type":"service","date_unixtime":"1700000000","action":"invite_members","members":"Bob"}`), "$.messages[1].members", "array of names", false},
		{"reaction count string", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","reactions":[{"type":"emoji","emoji":"x","count":"many"}]}`), "$.messages[1].reactions[0].count", "want an integer", false},
		{"reaction recent date", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","reactions":[{"type":"emoji","count":1,"recent":[{"from":"A","date":"yesterday"}]}]}`), "$.messages[1].reactions[0].recent[0].date", "2023-12-31T21:41:05", false},
		{"from_id object", msg(`{"id":2,"type":"message","date_unixtime":"1700000000","from_id":{"user":1}}`), "$.messages[1].from_id", "want an ID like", false},
		{"chat without id", `{"chats":{"list":[{"name":"x","messages_count":3}]}}`, "$.chats.list[0]", "no \"id\"", false},
		{"chat list not array", `{"chats":{"list":{}}}`, "$.chats.list", "must be an array", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			var got error
			for _, err := range NewReader(strings.NewReader(tc.in), Options{Name: "export/result.json"}).All() {
				if err != nil {
					got = err
					break
				}
				n++
			}
			if got == nil {
				t.Fatalf("no error after %d messages", n)
			}
			var e *Error
			if !errors.As(got, &e) {
				t.Fatalf("error %T %v is not *Error", got, got)
			}
			msg := got.Error()
			if !strings.HasPrefix(msg, "export/result.json: ") {
				t.Errorf("error does not name the file: %s", msg)
			}
			if !strings.HasPrefix(e.Path, tc.path) {
				t.Errorf("path = %s, want %s…\n%s", e.Path, tc.path, msg)
			}
			if !strings.Contains(msg, tc.contains) {
				t.Errorf("error %q lacks %q", msg, tc.contains)
			}
			if errors.Is(got, ErrNotExport) != tc.notExport {
				t.Errorf("errors.Is(ErrNotExport) = %v", !tc.notExport)
			}
			// ReadAll never returns a partial result.
			msgs, chats, err := ReadAll(strings.NewReader(tc.in), Options{})
			if err == nil || msgs != nil || chats != nil {
				t.Errorf("ReadAll = %d msgs, %v", len(msgs), err)
			}
		})
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open("testdata/does-not-exist", Options{}); err == nil {
		t.Error("no error for a missing folder")
	}
	dir := t.TempDir()
	_, err := Open(dir, Options{})
	if err == nil || !strings.Contains(err.Error(), "no result.json") {
		t.Errorf("err = %v", err)
	}
	html := t.TempDir()
	if err := os.WriteFile(html+"/messages.html", []byte("<html></html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(html, Options{}); err == nil || !strings.Contains(err.Error(), "HTML export") {
		t.Errorf("HTML export: %v", err)
	}
	if err := os.WriteFile(dir+"/result.json", []byte(`{"id":1,"messages":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	exp, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	msgs, err := collect(exp.Reader)
	if err != nil || len(msgs) != 0 {
		t.Errorf("empty chat: %d msgs, %v", len(msgs), err)
	}
	if err := exp.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
	if err := exp.Close(); err != nil {
		t.Errorf("second close: %v", err)
	}
	if _, err := exp.OpenMedia(""); err == nil {
		t.Error("empty media path opened")
	}
	if _, err := exp.OpenMedia("photos/missing.jpg"); err == nil || !strings.Contains(err.Error(), "photos/missing.jpg") {
		t.Errorf("err = %v", err)
	}
}

func collect(r *Reader) ([]*Message, error) {
	var out []*Message
	for m, err := range r.All() {
		if err != nil {
			return out, err
		}
		out = append(out, m)
	}
	return out, nil
}

var _ = bytes.NewReader
