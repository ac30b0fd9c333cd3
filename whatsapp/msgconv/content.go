package msgconv

import (
	"fmt"
	"strings"

	"maunium.net/go/mautrix/event"
)

// Location is a WhatsApp (live) location as an m.location message.
func Location(lat, long float64, name, address string, live bool) *event.MessageEventContent {
	label := "Location"
	if live {
		label = "Live location"
	}
	body := fmt.Sprintf("%s: %.6f, %.6f", label, lat, long)
	if name != "" {
		body = fmt.Sprintf("%s: %s (%.6f, %.6f)", label, name, lat, long)
	}
	if address != "" {
		body += "\n" + address
	}
	return &event.MessageEventContent{
		MsgType: event.MsgLocation,
		Body:    body,
		GeoURI:  fmt.Sprintf("geo:%.6f,%.6f", lat, long),
	}
}

// ParseGeoURI reads the coordinates of an m.location geo URI ("geo:48.85,2.35;u=10").
func ParseGeoURI(uri string) (lat, long float64, err error) {
	rest, ok := strings.CutPrefix(uri, "geo:")
	if !ok {
		return 0, 0, fmt.Errorf("geo_uri %q: want geo:<latitude>,<longitude>", uri)
	}
	rest, _, _ = strings.Cut(rest, ";")
	if _, err = fmt.Sscanf(rest, "%g,%g", &lat, &long); err != nil {
		return 0, 0, fmt.Errorf("geo_uri %q: want geo:<latitude>,<longitude>: %w", uri, err)
	}
	if lat < -90 || lat > 90 || long < -180 || long > 180 {
		return 0, 0, fmt.Errorf("geo_uri %q: coordinates out of range", uri)
	}
	return lat, long, nil
}

// Contact shows a shared WhatsApp contact card (vCard) as text with its name and numbers; the
// vCard itself is attached by the caller as a file.
func Contact(displayName, vcard string) *event.MessageEventContent {
	var phones []string
	for _, line := range strings.Split(strings.ReplaceAll(vcard, "\r\n", "\n"), "\n") {
		key, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		if name, _, _ := strings.Cut(strings.ToUpper(key), ";"); name == "TEL" || strings.HasSuffix(name, ".TEL") {
			phones = append(phones, strings.TrimSpace(value))
		}
		if displayName == "" && strings.EqualFold(key, "FN") {
			displayName = strings.TrimSpace(value)
		}
	}
	body := "👤 " + displayName
	if len(phones) > 0 {
		body += ": " + strings.Join(phones, ", ")
	}
	return &event.MessageEventContent{MsgType: event.MsgText, Body: body}
}

// Event type and keys of MSC3381 polls (stable types are not in use yet).
const (
	PollStartType    = "org.matrix.msc3381.poll.start"
	PollResponseType = "org.matrix.msc3381.poll.response"
)

// PollStart is a WhatsApp poll as MSC3381 content: the text fallback for clients without polls,
// and the poll.start block. Answer IDs are the option names' positions ("0", "1", …) so votes
// can be mapped back.
func PollStart(question string, options []string, maxSelections int) (body string, extra map[string]any) {
	var sb strings.Builder
	sb.WriteString("📊 " + question)
	answers := make([]map[string]any, len(options))
	for i, opt := range options {
		fmt.Fprintf(&sb, "\n%d. %s", i+1, opt)
		answers[i] = map[string]any{
			"id":                      fmt.Sprint(i),
			"org.matrix.msc1767.text": opt,
		}
	}
	if maxSelections <= 0 || maxSelections > len(options) {
		maxSelections = len(options)
	}
	extra = map[string]any{
		PollStartType: map[string]any{
			"kind":           "org.matrix.msc3381.poll.disclosed",
			"max_selections": maxSelections,
			"question":       map[string]any{"org.matrix.msc1767.text": question},
			"answers":        answers,
		},
		"org.matrix.msc1767.text": sb.String(),
	}
	return sb.String(), extra
}

// Waveform converts WhatsApp's voice-note waveform (bytes 0–100) to MSC1767's (0–1024).
func Waveform(wa []byte) []int {
	if len(wa) == 0 {
		return nil
	}
	out := make([]int, len(wa))
	for i, v := range wa {
		if v > 100 {
			v = 100
		}
		out[i] = int(v) * 1024 / 100
	}
	return out
}

// WAWaveform converts an MSC1767 waveform (0–1024) to WhatsApp's 64 bytes of 0–100.
func WAWaveform(mx []int) []byte {
	if len(mx) == 0 {
		return nil
	}
	out := make([]byte, 64)
	for i := range out {
		v := mx[i*len(mx)/64]
		v = min(max(v, 0), 1024)
		out[i] = byte(v * 100 / 1024)
	}
	return out
}
