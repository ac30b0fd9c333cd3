package waexport

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// bidiMarks are the invisible direction marks WhatsApp sprinkles over
// exports (iOS puts U+200E before attachment lines and system text,
// Android wraps phone numbers in U+202A…U+202C).
const bidiMarks = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\ufeff"

func trimBidi(s string) string { return strings.Trim(s, bidiMarks) }

// headerRe matches the timestamp that starts every message line:
// Android "12/31/23, 9:41 PM - " and iOS "[31/12/2023, 21:41:05] ", with
// the separators, seconds and AM/PM spellings of common locales.
var headerRe = regexp.MustCompile(`^[` + bidiMarks + `]*(\[)?` +
	`(\d{1,4})([./-])(\d{1,2})[./-](\d{1,4})\.?,?[ \x{a0}\x{202f}]+` +
	`(\d{1,2})[:.](\d{2})(?:[:.](\d{2}))?` +
	`(?:[ \x{a0}\x{202f}]*([AaPp])\.?[ \x{a0}\x{202f}]?[Mm]\.?)?` +
	`(\][ \x{a0}]?| [-–] )`)

// header is a parsed timestamp line prefix.
type header struct {
	a, b, c   int // the three date fields in file order
	aDigits   int
	cDigits   int
	sep       byte
	h, m, s   int
	ampm      byte // 'A', 'P' or 0
	ios       bool
	restStart int // byte offset of the text after the header
}

// parseHeader recognises a message header at the start of line.
func parseHeader(line string) (header, bool) {
	if len(line) < 12 {
		return header{}, false
	}
	// Cheap reject before the regexp: a header starts with a digit, a
	// bracket or a bidi mark.
	if c := line[0]; !(c >= '0' && c <= '9') && c != '[' && c < 0x80 {
		return header{}, false
	}
	sm := headerRe.FindStringSubmatchIndex(line)
	if sm == nil {
		return header{}, false
	}
	g := func(i int) string {
		if sm[2*i] < 0 {
			return ""
		}
		return line[sm[2*i]:sm[2*i+1]]
	}
	bracket := g(1) == "["
	closing := g(10)
	if bracket != strings.HasPrefix(closing, "]") {
		return header{}, false
	}
	var h header
	h.a, _ = strconv.Atoi(g(2))
	h.aDigits = len(g(2))
	h.sep = g(3)[0]
	h.b, _ = strconv.Atoi(g(4))
	h.c, _ = strconv.Atoi(g(5))
	h.cDigits = len(g(5))
	h.h, _ = strconv.Atoi(g(6))
	h.m, _ = strconv.Atoi(g(7))
	if s := g(8); s != "" {
		h.s, _ = strconv.Atoi(s)
	}
	if ap := g(9); ap != "" {
		h.ampm = strings.ToUpper(ap)[0]
	}
	h.ios = bracket
	h.restStart = sm[1]
	// A year has 2 or 4 digits, either first or last.
	if h.aDigits == 4 {
		if h.cDigits > 2 {
			return header{}, false
		}
	} else if h.aDigits > 2 || (h.cDigits != 2 && h.cDigits != 4) {
		return header{}, false
	}
	return h, true
}

// wall is a zone-free local date and time.
type wall struct {
	year, month, day, hour, min, sec int
}

func (w wall) String() string {
	return fmt.Sprintf("%04d%02d%02dT%02d%02d%02d", w.year, w.month, w.day, w.hour, w.min, w.sec)
}

// time places the wall time in loc. When clocks went back and the wall
// time happened twice, the earlier instant is chosen (time.Date leaves
// that choice open).
func (w wall) time(loc *time.Location) time.Time {
	t := time.Date(w.year, time.Month(w.month), w.day, w.hour, w.min, w.sec, 0, loc)
	_, off := t.Zone()
	_, before := t.Add(-3 * time.Hour).Zone()
	if before > off {
		naive := time.Date(w.year, time.Month(w.month), w.day, w.hour, w.min, w.sec, 0, time.UTC)
		early := naive.Add(-time.Duration(before) * time.Second).In(loc)
		if early.Before(t) && early.Hour() == w.hour && early.Minute() == w.min && early.Day() == w.day {
			return early
		}
	}
	return t
}

// wall resolves the header's fields in the given order, or says why the
// date or time is impossible.
func (h header) wall(order DateOrder) (wall, error) {
	var w wall
	switch {
	case h.aDigits == 4:
		w.year, w.month, w.day = h.a, h.b, h.c
	case order == MonthDayYear:
		w.month, w.day, w.year = h.a, h.b, h.c
	default:
		w.day, w.month, w.year = h.a, h.b, h.c
	}
	if w.year < 100 {
		w.year += 2000
	}
	if w.month < 1 || w.month > 12 {
		return w, fmt.Errorf("month %d does not exist (date order %s)", w.month, order)
	}
	if w.day < 1 || w.day > daysIn(w.year, w.month) {
		return w, fmt.Errorf("day %d does not exist in %04d-%02d (date order %s)", w.day, w.year, w.month, order)
	}
	w.hour, w.min, w.sec = h.h, h.m, h.s
	switch h.ampm {
	case 'A', 'P':
		if w.hour < 1 || w.hour > 12 {
			return w, fmt.Errorf("hour %d is not valid on a 12-hour clock", w.hour)
		}
		w.hour %= 12
		if h.ampm == 'P' {
			w.hour += 12
		}
	default:
		if w.hour > 23 {
			return w, fmt.Errorf("hour %d does not exist", w.hour)
		}
	}
	if w.min > 59 || w.sec > 59 {
		return w, fmt.Errorf("time %02d:%02d:%02d does not exist", h.h, h.m, h.s)
	}
	return w, nil
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// detectOrder chooses between day-first and month-first for the whole
// file, since a single date like 03/04/23 cannot tell. It returns the
// order and a short reason for reports.
func detectOrder(hs []header, lines []int) (DateOrder, string, error) {
	var firstA, firstB = -1, -1 // indexes of the first header proving each order
	numeric := 0
	for i, h := range hs {
		if h.aDigits == 4 {
			continue
		}
		numeric++
		if h.a > 12 && firstA < 0 {
			firstA = i
		}
		if h.b > 12 && firstB < 0 {
			firstB = i
		}
	}
	if numeric == 0 {
		return YearMonthDay, "year first in the file", nil
	}
	switch {
	case firstA >= 0 && firstB >= 0:
		return 0, "", fmt.Errorf("dates disagree: line %d has day first (%d/%d) but line %d has month first (%d/%d); set the date order option",
			lines[firstA], hs[firstA].a, hs[firstA].b, lines[firstB], hs[firstB].a, hs[firstB].b)
	case firstA >= 0:
		return DayMonthYear, fmt.Sprintf("line %d starts with %d, which can only be a day", lines[firstA], hs[firstA].a), nil
	case firstB >= 0:
		return MonthDayYear, fmt.Sprintf("line %d has %d second, which can only be a day", lines[firstB], hs[firstB].b), nil
	}
	// No field above 12: prefer the order under which time runs forward.
	dm, md := backsteps(hs, DayMonthYear), backsteps(hs, MonthDayYear)
	if dm != md {
		if dm < md {
			return DayMonthYear, "dates only run in order when read day first", nil
		}
		return MonthDayYear, "dates only run in order when read month first", nil
	}
	// Still undecided: follow the locale conventions visible in the file.
	h := hs[0]
	switch {
	case h.sep == '.':
		return DayMonthYear, "ambiguous; dotted dates are day first", nil
	case h.ampm != 0 && !h.ios:
		return MonthDayYear, "ambiguous; Android with a 12-hour clock is usually US month first", nil
	}
	return DayMonthYear, "ambiguous; assumed day first", nil
}

// backsteps counts how often time goes backwards (or a date is invalid)
// when the headers are read in the given order.
func backsteps(hs []header, order DateOrder) int {
	n := 0
	prev := ""
	for _, h := range hs {
		w, err := h.wall(order)
		if err != nil {
			n += 1000
			continue
		}
		s := w.String()
		if s < prev {
			n++
		}
		prev = s
	}
	return n
}
