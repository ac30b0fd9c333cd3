package waexport

import (
	"errors"
	"os"
	"strings"
	"testing"
)

func TestBadInput(t *testing.T) {
	tests := []struct {
		file      string
		line      int
		contains  string
		notExport bool
	}{
		{"bad_not_whatsapp.txt", 1, "does not start with a date and time", true},
		{"bad_inconsistent.txt", 0, "line 1 has day first (13/1) but line 2 has month first (1/13)", false},
		{"bad_date.txt", 2, "day 31 does not exist in 2024-02", false},
		{"bad_hour.txt", 2, "hour 25 does not exist", false},
		{"bad_nul.txt", 2, "NUL bytes", false},
		{"bad_latin1.txt", 2, "not valid UTF-8", false},
		{"bad_no_chat.zip", 0, "holds no chat .txt (entries: photo.jpg, readme.txt)", true},
		{"bad_truncated.zip", 0, "not a readable zip", false},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			exp, err := ParseFile("testdata/"+tc.file, Options{})
			if err == nil {
				exp.Close()
				t.Fatalf("parsed %d messages without error", len(exp.Messages))
			}
			if exp != nil {
				t.Error("partial result returned with the error")
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("error %T: %v", err, err)
			}
			if e.Line != tc.line || !strings.Contains(e.File, tc.file) {
				t.Errorf("error at %s:%d, want %s:%d (%v)", e.File, e.Line, tc.file, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.contains) {
				t.Errorf("error %q lacks %q", err, tc.contains)
			}
			if errors.Is(err, ErrNotExport) != tc.notExport {
				t.Errorf("ErrNotExport = %v: %v", !tc.notExport, err)
			}
		})
	}
}

func TestFolderWithoutChat(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/readme.txt", []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := ParseFile(dir, Options{})
	if !errors.Is(err, ErrNotExport) || !strings.Contains(err.Error(), dir) {
		t.Errorf("err = %v", err)
	}
}

func TestBadStrings(t *testing.T) {
	tests := []struct {
		name, in string
		opts     Options
		line     int
		contains string
	}{
		{"empty", "", Options{}, 0, "empty"},
		{"blank lines only", "\n\n  \n", Options{}, 0, "empty"},
		{"json", `{"messages": []}`, Options{}, 1, "does not start with a date"},
		{"override makes date impossible", "13/01/24, 10:00 - Ann: a\n", Options{DateOrder: MonthDayYear}, 1, "month 13 does not exist"},
		{"12-hour clock hour 0", "[1/2/24, 0:15:00 AM] Ann: a\n", Options{}, 1, "not valid on a 12-hour clock"},
		{"minute 61", "1/2/24, 10:61 - Ann: a\n", Options{}, 1, "does not exist"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Name = "WhatsApp Chat with X.txt"
			exp, err := Parse(strings.NewReader(tc.in), tc.opts)
			if err == nil {
				t.Fatalf("parsed %d messages", len(exp.Messages))
			}
			var e *Error
			if !errors.As(err, &e) || e.Line != tc.line || !strings.Contains(err.Error(), tc.contains) || !strings.HasPrefix(err.Error(), "WhatsApp Chat with X.txt") {
				t.Errorf("error %v (line %d), want line %d containing %q", err, e.Line, tc.line, tc.contains)
			}
		})
	}
}

// A pasted line in the other date order makes detection fail with a hint;
// following the hint keeps the pasted line as text.
func TestPastedForeignDate(t *testing.T) {
	in := "13/01/24, 10:00 - Ann: look what Bob sent:\n01/14/24, 09:00 - Bob: quoted\n14/01/24, 10:05 - Ben: ok\n"
	_, err := Parse(strings.NewReader(in), Options{})
	if err == nil || !strings.Contains(err.Error(), "set the date order option") {
		t.Fatalf("err = %v", err)
	}
	exp, err := Parse(strings.NewReader(in), Options{DateOrder: DayMonthYear})
	if err != nil {
		t.Fatal(err)
	}
	if len(exp.Messages) != 2 || exp.Messages[0].Text.Plain != "look what Bob sent:\n01/14/24, 09:00 - Bob: quoted" || exp.Messages[1].Line != 3 {
		t.Errorf("messages %+v", exp.Messages)
	}
}

func TestMultiLineSubjectAndLongMessage(t *testing.T) {
	long := strings.Repeat("line\n", 50_000)
	in := "1/2/24, 10:00 - Ann changed the subject to \"two\nlines\"\n1/2/24, 10:01 - Ann:\nBob left\n1/2/24, 10:02 - Ben: " + long
	exp, err := Parse(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s := exp.Messages[0].Service; s == nil || s.Action != "change_subject" || s.Subject != "two\nlines" {
		t.Errorf("subject %+v", s)
	}
	if m := exp.Messages[1]; m.Service != nil || m.Sender.Name != "Ann" || m.Text.Plain != "Bob left" {
		t.Errorf("message %+v", m)
	}
	if got := exp.Messages[2].Text.Plain; got != strings.TrimSuffix(long, "\n") {
		t.Errorf("long message has %d bytes", len(got))
	}
}

func TestUnknownSystemLineKept(t *testing.T) {
	exp, err := Parse(strings.NewReader("1/2/24, 10:00 - Ann reacted strangely to the group\n1/2/24, 10:01 - Ann: ok\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	s := exp.Messages[0].Service
	if s == nil || s.Action != "other" || s.Text != "Ann reacted strangely to the group" {
		t.Errorf("service %+v", s)
	}
}
