package tgexport

import "strings"

// NormalizePhone returns an international number in E.164 form ("+" and
// digits) when s is one: "+33 6 12 34 56 78" and "0033612345678" become
// "+33612345678", and Telegram's bare "33612345678" gets its "+". It
// returns "" for anything else (short codes, letters), so that callers
// never mistake a name for a number.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(s)
	var digits strings.Builder
	plus := false
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && digits.Len() == 0 && !plus:
			plus = true
		case r == ' ' || r == '-' || r == '(' || r == ')' || r == '.' || r == '\u00a0' || r == '\u202f' ||
			r == '\u202a' || r == '\u202c' || r == '\u200e' || r == '\u200f' || r == '\u2068' || r == '\u2069':
		default:
			_ = i
			return ""
		}
	}
	d := digits.String()
	if !plus && strings.HasPrefix(d, "00") {
		d = d[2:]
	}
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	return "+" + d
}
