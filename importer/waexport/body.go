package waexport

import (
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
)

var (
	locationRe = regexp.MustCompile(`^(?i:(?:live )?location): (https?://\S+)$`)
	pollVoteRe = regexp.MustCompile(`^OPTION: (.*) \((\d+) votes?\)$`)
)

// fillBody interprets the text of an ordinary message: edit and deletion
// marks, attachments, locations, polls and call entries; what remains is
// the text (or caption).
func fillBody(m *Message, body string) {
	body = strings.TrimRight(body, "\n\r")
	if t, ok := cutAnySuffix(strings.TrimRight(body, " "+bidiMarks), editedMarks); ok {
		m.Edited = true
		body = strings.TrimRight(t, " \n"+bidiMarks)
	}
	first, rest, _ := strings.Cut(body, "\n")
	clean := strings.TrimSpace(trimBidi(strings.TrimSpace(first)))
	caption := body
	switch {
	case rest == "" && hasAnyPrefix(clean, deletedPrefixes):
		m.Deleted = true
		caption = ""
	case isAny(clean, omittedMarkers):
		m.Media = &Media{Omitted: true}
		caption = rest
	case strings.HasSuffix(clean, " omitted") && iosOmittedRe.MatchString(clean):
		kind := iosOmittedRe.FindStringSubmatch(clean)[1]
		if kind == "Contact card" {
			m.Contact = &Contact{}
		} else {
			m.Media = &Media{Kind: omittedKinds[kind], Omitted: true}
		}
		caption = rest
	case isAttached(clean):
		file, _ := cutAnySuffix(clean, attachedSuffixes)
		file = strings.TrimSpace(file)
		attach(m, file, "")
		caption = rest
		if strings.TrimSpace(trimBidi(rest)) == file {
			caption = "" // Android repeats a document's name as its caption
		}
	case strings.HasSuffix(clean, ">") && strings.Contains(clean, "<attached: ") && iosAttachRe.MatchString(clean):
		sm := iosAttachRe.FindStringSubmatch(clean)
		attach(m, sm[2], strings.TrimSpace(trimBidi(strings.TrimSpace(sm[1]))))
		caption = rest
	case rest == "" && strings.Contains(clean, "://") && locationRe.MatchString(clean):
		u := locationRe.FindStringSubmatch(clean)[1]
		if loc, ok := parseMapURL(u); ok {
			m.Location = loc
			caption = ""
		}
	case strings.EqualFold(clean, "live location shared") && rest == "":
		m.Location = &Location{Live: true}
		caption = ""
	case clean == "POLL:":
		if p, ok := parsePoll(rest); ok {
			m.Poll = p
			caption = ""
		}
	case rest == "" && clean != first && strings.Contains(clean, " call") && callRe.MatchString(clean):
		// iOS writes calls as "‎Missed voice call" from the caller; the
		// mark tells them from a person typing those words.
		m.Service = &Service{Action: "call", Actor: m.Sender, Text: clean}
		caption = ""
	}
	m.Text = Text{Plain: caption, HTML: FormatHTML(caption)}
}

// isAttached recognises Android's "NAME (file attached)".
func isAttached(s string) bool {
	name, ok := cutAnySuffix(s, attachedSuffixes)
	return ok && strings.TrimSpace(name) != ""
}

// attach records an attachment; .vcf files are contact cards.
func attach(m *Message, file, desc string) {
	file = strings.TrimSpace(trimBidi(file))
	if strings.EqualFold(path.Ext(file), ".vcf") {
		m.Contact = &Contact{Name: contactName(file), VCard: file}
		return
	}
	m.Media = &Media{Kind: mediaKind(file), Path: file, MIME: MIMEType(file), Description: desc}
}

// parseMapURL reads the coordinates of a Google Maps link ("?q=lat,lon").
func parseMapURL(raw string) (*Location, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, false
	}
	q := u.Query().Get("q")
	if q == "" {
		q = u.Query().Get("ll")
	}
	lat, lon, ok := strings.Cut(q, ",")
	if !ok {
		return nil, false
	}
	la, err1 := strconv.ParseFloat(strings.TrimSpace(lat), 64)
	lo, err2 := strconv.ParseFloat(strings.TrimSpace(lon), 64)
	if err1 != nil || err2 != nil || la < -90 || la > 90 || lo < -180 || lo > 180 {
		return nil, false
	}
	return &Location{Latitude: la, Longitude: lo, URL: raw}, true
}

// parsePoll reads the lines after "POLL:": the question, then one
// "OPTION: text (n votes)" line per answer.
func parsePoll(rest string) (*Poll, bool) {
	lines := strings.Split(rest, "\n")
	if len(lines) < 2 {
		return nil, false
	}
	p := &Poll{Question: strings.TrimSpace(trimBidi(lines[0]))}
	for _, l := range lines[1:] {
		sm := pollVoteRe.FindStringSubmatch(strings.TrimSpace(trimBidi(l)))
		if sm == nil {
			return nil, false
		}
		n, _ := strconv.Atoi(sm[2])
		p.Options = append(p.Options, PollOption{Text: sm[1], Votes: n})
	}
	return p, true
}
