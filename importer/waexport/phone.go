package waexport

import "strings"

// NormalizePhone returns s in E.164 form ("+" and 8 to 15 digits) when it
// is written as an international number, as WhatsApp shows senders who
// are not in the address book ("+33 6 12 34 56 78"); "" otherwise.
func NormalizePhone(s string) string {
	s = strings.TrimSpace(trimBidi(s))
	if !strings.HasPrefix(s, "+") {
		return ""
	}
	var digits strings.Builder
	for _, r := range s[1:] {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case strings.ContainsRune(" -().\u00a0\u202f\u2009"+bidiMarks, r):
		default:
			return ""
		}
	}
	d := digits.String()
	if len(d) < 8 || len(d) > 15 || d[0] == '0' {
		return ""
	}
	return "+" + d
}

// parseSender cleans a sender as written in the export.
func parseSender(raw string) Sender {
	n := strings.TrimSpace(trimBidi(raw))
	// Newer exports mark people missing from the address book with "~".
	if rest, ok := strings.CutPrefix(n, "~"); ok {
		n = strings.TrimSpace(strings.Trim(rest, "\u00a0\u202f "+bidiMarks))
	}
	s := Sender{Name: n, Phone: NormalizePhone(n)}
	s.ID = s.Name
	if s.Phone != "" {
		s.ID = s.Phone
	}
	s.Self = n == "You" || n == "you"
	return s
}
