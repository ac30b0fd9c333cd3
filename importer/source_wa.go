package importer

import (
	"fmt"
	"io"
	"iter"
	"strings"
	"time"

	"github.com/passerelle-bridge/passerelle/importer/waexport"
	"github.com/passerelle-bridge/passerelle/portal"
)

// waSource adapts a WhatsApp "Export chat" (.zip, or .txt with its media next to it).
type waSource struct {
	exp  *waexport.Export
	chat *ChatRef
	// selfID is the exporter's sender ID when detectDM found it.
	selfID string
}

// WAOptions tune how a WhatsApp export is read.
type WAOptions struct {
	// DateOrder overrides the detected day/month order.
	DateOrder waexport.DateOrder
	// Location is the exporting phone's zone (nil: UTC).
	Location *time.Location
}

// OpenWhatsApp parses a WhatsApp export. path must end in .zip or .txt; displayName is used in
// error messages.
func OpenWhatsApp(path, displayName string, opts WAOptions) (Source, error) {
	exp, err := waexport.ParseFile(path, waexport.Options{Name: displayName, DateOrder: opts.DateOrder, Location: opts.Location})
	if err != nil {
		return nil, err
	}
	name := exp.ChatName
	if name == "" {
		name = "WhatsApp chat"
	}
	src := &waSource{exp: exp, chat: &ChatRef{Key: "wa:" + name, Name: name}}
	src.detectDM()
	return src, nil
}

// detectDM recognises a one-to-one chat: exactly two people write, and one of them is the
// person the file is named after ("WhatsApp Chat with Anna"). The other one is then the person
// who exported it, whose messages go out as them.
func (s *waSource) detectDM() {
	var names []string
	seen := map[string]bool{}
	for _, m := range s.exp.Messages {
		if m.Service != nil || m.Sender.ID == "" || m.Sender.Self {
			continue
		}
		if !seen[m.Sender.ID] {
			seen[m.Sender.ID] = true
			names = append(names, m.Sender.ID)
		}
	}
	if len(names) != 2 || s.exp.ChatName == "" {
		return
	}
	var other, self string
	for i, n := range names {
		if strings.EqualFold(strings.TrimSpace(n), strings.TrimSpace(s.exp.ChatName)) {
			other, self = n, names[1-i]
		}
	}
	if other == "" {
		return
	}
	s.chat.DM = true
	s.selfID = self
	for _, m := range s.exp.Messages {
		if m.Sender.ID == other {
			sender := waSender(m.Sender)
			s.chat.OtherUser = &sender
			break
		}
	}
}

// ParseDateOrder reads the --date-order option: dmy, mdy, ymd or auto.
func ParseDateOrder(s string) (waexport.DateOrder, error) {
	switch strings.ToLower(strings.NewReplacer("/", "", "-", "", ".", "").Replace(s)) {
	case "", "auto":
		return waexport.DateOrderAuto, nil
	case "dmy", "daymonthyear":
		return waexport.DayMonthYear, nil
	case "mdy", "monthdayyear":
		return waexport.MonthDayYear, nil
	case "ymd", "yearmonthday":
		return waexport.YearMonthDay, nil
	}
	return 0, fmt.Errorf("date order %q: use dmy (31/12/2023), mdy (12/31/2023), ymd (2023-12-31) or auto", s)
}

func (s *waSource) Network() portal.Network { return portal.WhatsApp }

func (s *waSource) OpenMedia(path string) (io.ReadCloser, error) { return s.exp.OpenMedia(path) }

func (s *waSource) Close() error { return s.exp.Close() }

func (s *waSource) Items() iter.Seq2[*Item, error] {
	return func(yield func(*Item, error) bool) {
		for _, m := range s.exp.Messages {
			it := waItem(s.chat, m, s.exp.Name)
			if s.selfID != "" && m.Sender.ID == s.selfID {
				it.Sender.Self = true
			}
			if !yield(it, nil) {
				return
			}
		}
	}
}

func waSender(s waexport.Sender) SenderRef {
	return SenderRef{Phone: s.Phone, Name: s.Name, Self: s.Self}
}

func waItem(chat *ChatRef, m *waexport.Message, file string) *Item {
	it := &Item{
		Chat:    chat,
		Key:     m.Key,
		Pos:     fmt.Sprintf("%s:%d", file, m.Line),
		Time:    m.Time,
		Sender:  waSender(m.Sender),
		Text:    m.Text.Plain,
		HTML:    m.Text.HTML,
		Edited:  m.Edited,
		Deleted: m.Deleted,
	}
	if md := m.Media; md != nil {
		out := &Media{Path: md.Path, MIME: md.MIME, Size: md.Size, FileName: md.Path}
		switch md.Kind {
		case waexport.MediaPhoto:
			out.Kind = MediaImage
		case waexport.MediaVideo, waexport.MediaAnimation:
			out.Kind = MediaVideo
		case waexport.MediaVoice:
			out.Kind = MediaVoice
		case waexport.MediaAudio:
			out.Kind = MediaAudio
		case waexport.MediaSticker:
			out.Kind = MediaSticker
		default:
			out.Kind = MediaFile
		}
		if md.Description != "" {
			out.FileName = md.Description
		}
		switch {
		case md.Omitted:
			out.Path, out.Missing = "", "WhatsApp left the file out of the export (exported without media)"
		case !md.Present:
			out.Missing = fmt.Sprintf("%s is not in the export", md.Path)
			out.Path = ""
		}
		it.Media = out
	}
	if l := m.Location; l != nil {
		it.Location = &Location{Latitude: l.Latitude, Longitude: l.Longitude, Live: l.Live, Description: l.URL}
	}
	if c := m.Contact; c != nil {
		it.Contact = &Contact{Name: c.Name, Phones: c.Phones}
	}
	if p := m.Poll; p != nil {
		poll := &Poll{Question: p.Question}
		for _, o := range p.Options {
			poll.Answers = append(poll.Answers, PollAnswer{Text: o.Text, Votes: o.Votes})
		}
		it.Poll = poll
	}
	if svc := m.Service; svc != nil {
		it.Service = true
		it.Text, it.HTML = svc.Text, ""
		if svc.Actor.Name != "" || svc.Actor.Phone != "" || svc.Actor.Self {
			it.Sender = waSender(svc.Actor)
		}
	}
	return it
}
