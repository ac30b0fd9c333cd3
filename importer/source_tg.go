package importer

import (
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/passerelle-bridge/passerelle/importer/tgexport"
	"github.com/passerelle-bridge/passerelle/portal"
)

// tgSource adapts a Telegram Desktop export (a folder with result.json, or result.json alone).
type tgSource struct {
	exp   *tgexport.Export
	name  string
	chats map[*tgexport.Chat]*ChatRef
}

// OpenTelegram opens a Telegram Desktop JSON export: its folder or its result.json. loc is the
// zone of wall-clock dates in exports older than Telegram Desktop 2.9 (nil: UTC).
func OpenTelegram(path, displayName string, loc *time.Location) (Source, error) {
	exp, err := tgexport.Open(path, tgexport.Options{Name: displayName, Location: loc})
	if err != nil {
		return nil, err
	}
	return &tgSource{exp: exp, name: displayName}, nil
}

func (s *tgSource) Network() portal.Network { return portal.Telegram }

func (s *tgSource) OpenMedia(path string) (io.ReadCloser, error) { return s.exp.OpenMedia(path) }

func (s *tgSource) Close() error { return s.exp.Close() }

func (s *tgSource) Items() iter.Seq2[*Item, error] {
	return func(yield func(*Item, error) bool) {
		chats := map[*tgexport.Chat]*ChatRef{}
		s.chats = chats
		for msg, err := range s.exp.All() {
			if err != nil {
				yield(nil, err)
				return
			}
			ref := chats[msg.Chat]
			if ref == nil {
				ref = tgChatRef(msg.Chat)
				chats[msg.Chat] = ref
			}
			if !yield(tgItem(ref, msg, s.name), nil) {
				return
			}
		}
	}
}

// FinalChats describes the chats as known after the whole export was read: a chat's name and
// type may follow its messages in the JSON, so the refs handed out with the first messages can
// be incomplete.
func (s *tgSource) FinalChats() map[string]*ChatRef {
	out := map[string]*ChatRef{}
	for c := range s.chats {
		ref := tgChatRef(c)
		out[ref.Key] = ref
	}
	return out
}

// tgChatRef maps the export's chat types to Telegram peers: basic groups are chats, supergroups
// and channels are channels, everything else is a user (the other person, a bot, or oneself
// for Saved Messages).
func tgChatRef(c *tgexport.Chat) *ChatRef {
	ref := &ChatRef{Key: "tg:" + strconv.FormatInt(c.ID, 10), Name: c.Name}
	if ref.Name == "" {
		ref.Name = "Telegram chat " + strconv.FormatInt(c.ID, 10)
		if c.Type == "saved_messages" {
			ref.Name = "Saved Messages"
		}
	}
	if c.ID <= 0 {
		return ref
	}
	kind := portal.TGUser
	switch {
	case strings.Contains(c.Type, "supergroup") || strings.Contains(c.Type, "channel"):
		kind = portal.TGChannel
	case strings.Contains(c.Type, "group"):
		kind = portal.TGChat
	default:
		ref.DM = true
		ref.OtherUser = &SenderRef{TG: &portal.TGPeer{Kind: portal.TGUser, ID: c.ID}, Name: c.Name}
	}
	ref.TGPeer = &portal.TGPeer{Kind: kind, ID: c.ID}
	return ref
}

func tgPeer(p tgexport.Peer) *portal.TGPeer {
	switch p.Kind {
	case tgexport.PeerUser:
		return &portal.TGPeer{Kind: portal.TGUser, ID: p.ID}
	case tgexport.PeerChannel:
		return &portal.TGPeer{Kind: portal.TGChannel, ID: p.ID}
	}
	return nil
}

func tgItem(chat *ChatRef, m *tgexport.Message, file string) *Item {
	it := &Item{
		Chat:     chat,
		Key:      m.Key,
		RemoteID: int(m.ID),
		Pos:      file + " " + m.Path,
		Time:     m.Time,
		Sender:   SenderRef{TG: tgPeer(m.Sender), Name: m.Sender.Name},
		Text:     m.Text.Plain,
		HTML:     m.Text.HTML,
	}
	if it.Sender.TG == nil && it.Sender.Name == "" && m.Service == nil {
		it.Sender.Name = "Deleted Account"
	}
	if m.Author != "" && it.Sender.TG != nil && it.Sender.TG.Kind == portal.TGChannel {
		it.Extra = "— " + m.Author
	}
	if m.ReplyTo != 0 && m.ReplyToPeer.IsZero() {
		it.ReplyTo = chat.Key + ":" + strconv.FormatInt(m.ReplyTo, 10)
	}
	if !m.Edited.IsZero() {
		it.Edited, it.EditedAt = true, m.Edited
	}
	if f := m.Forwarded; f != nil {
		it.Forwarded = f.From
		if it.Forwarded == "" {
			it.Forwarded = f.SavedFrom
		}
		if it.Forwarded == "" {
			it.Forwarded = "unknown"
		}
	}
	if md := m.Media; md != nil {
		it.Media = tgMedia(md)
	}
	if l := m.Location; l != nil {
		desc := strings.TrimSpace(strings.Join(nonEmpty(l.Place, l.Address), ", "))
		it.Location = &Location{Latitude: l.Latitude, Longitude: l.Longitude, Description: desc, Live: l.LivePeriod > 0}
	}
	if c := m.Contact; c != nil {
		phone := c.Phone
		if phone == "" {
			phone = c.PhoneRaw
		}
		it.Contact = &Contact{Name: strings.TrimSpace(c.FirstName + " " + c.LastName), Phones: nonEmpty(phone)}
	}
	if p := m.Poll; p != nil {
		poll := &Poll{Question: p.Question, Closed: p.Closed}
		for _, a := range p.Answers {
			poll.Answers = append(poll.Answers, PollAnswer{Text: a.Text, Votes: a.Voters})
		}
		it.Poll = poll
	}
	if svc := m.Service; svc != nil {
		it.Service = true
		text := tgServiceText(m.Sender.Name, svc)
		if it.Text != "" {
			text += ": " + it.Text
		}
		it.Text, it.HTML = text, ""
		if svc.Action == "pin_message" && svc.MessageID != 0 {
			it.ReplyTo = chat.Key + ":" + strconv.FormatInt(svc.MessageID, 10)
		}
	}
	// Parts the parser keeps only as raw JSON (a game, a story mention, boosts) are named in
	// small print, or make the whole message when nothing else is left, never dropped silently.
	if fields := unsupportedFields(m.Unsupported); len(fields) > 0 {
		note := "[Not shown by this import: " + strings.Join(fields, ", ") + "]"
		if it.Text == "" && it.Media == nil && it.Location == nil && it.Contact == nil && it.Poll == nil && !it.Service {
			it.Service, it.Text, it.HTML = true, note, ""
		} else {
			it.Extra = strings.TrimSpace(it.Extra + "\n" + note)
		}
	}
	if len(m.Reactions) > 0 {
		var parts []string
		for _, r := range m.Reactions {
			emoji := r.Emoji
			if emoji == "" {
				emoji = r.Type
			}
			parts = append(parts, fmt.Sprintf("%s %d", emoji, r.Count))
		}
		it.Extra = strings.TrimSpace(it.Extra + "\nReactions: " + strings.Join(parts, ", "))
	}
	return it
}

func tgMedia(md *tgexport.Media) *Media {
	out := &Media{Path: md.Path, Missing: md.Missing, FileName: md.FileName, MIME: md.MIME, Size: md.Size,
		Width: md.Width, Height: md.Height, Duration: md.Duration}
	switch md.Kind {
	case tgexport.MediaPhoto:
		out.Kind = MediaImage
	case tgexport.MediaVideo, tgexport.MediaAnimation, tgexport.MediaVideoMessage:
		out.Kind = MediaVideo
	case tgexport.MediaVoice:
		out.Kind = MediaVoice
	case tgexport.MediaAudio:
		out.Kind = MediaAudio
	case tgexport.MediaSticker:
		out.Kind = MediaSticker
		if md.StickerEmoji != "" && out.FileName == "" {
			out.FileName = md.StickerEmoji
		}
	default:
		out.Kind = MediaFile
	}
	if out.Path == "" && out.Missing == "" {
		out.Missing = "the file is not part of the export"
	}
	return out
}

// tgServiceText words a Telegram service event for a notice.
func tgServiceText(actor string, s *tgexport.Service) string {
	if actor == "" {
		actor = "Someone"
	}
	members := strings.Join(nonEmpty(s.Members...), ", ")
	switch s.Action {
	case "create_group", "create_channel":
		return fmt.Sprintf("%s created the group «%s»", actor, s.Title)
	case "invite_members":
		return fmt.Sprintf("%s added %s", actor, members)
	case "remove_members":
		return fmt.Sprintf("%s removed %s", actor, members)
	case "join_group_by_link":
		return fmt.Sprintf("%s joined the group via an invite link", actor)
	case "join_group_by_request":
		return fmt.Sprintf("%s joined the group", actor)
	case "edit_group_title":
		return fmt.Sprintf("%s changed the group name to «%s»", actor, s.Title)
	case "edit_group_photo":
		return fmt.Sprintf("%s changed the group photo", actor)
	case "delete_group_photo":
		return fmt.Sprintf("%s removed the group photo", actor)
	case "pin_message":
		return fmt.Sprintf("%s pinned a message", actor)
	case "migrate_to_supergroup", "migrate_from_group":
		return "The group was upgraded to a supergroup"
	case "phone_call", "group_call":
		text := fmt.Sprintf("%s called", actor)
		if s.Duration > 0 {
			text += fmt.Sprintf(" (%s)", s.Duration.Round(time.Second))
		}
		if s.DiscardReason != "" && s.DiscardReason != "hangup" {
			text += " — " + s.DiscardReason
		}
		return text
	}
	return fmt.Sprintf("%s: %s", actor, strings.ReplaceAll(s.Action, "_", " "))
}

func nonEmpty(s ...string) []string {
	out := make([]string, 0, len(s))
	for _, v := range s {
		if strings.TrimSpace(v) != "" {
			out = append(out, v)
		}
	}
	return out
}

// unsupportedFields names the message fields the parser did not model; entity types are left
// out (their text is part of the message text already).
func unsupportedFields(us []tgexport.Unsupported) []string {
	var out []string
	seen := map[string]bool{}
	for _, u := range us {
		if strings.Contains(u.Path, "text_entities") {
			continue
		}
		name := u.Path[strings.LastIndex(u.Path, ".")+1:]
		if name == "text" || seen[name] {
			continue
		}
		seen[name] = true
		out = append(out, name)
	}
	return out
}
