package importer

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/passerelle-bridge/passerelle/importer/waexport"
	"github.com/passerelle-bridge/passerelle/portal"
)

func collect(t *testing.T, src Source) []*Item {
	t.Helper()
	var out []*Item
	for it, err := range src.Items() {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, it)
	}
	return out
}

func TestTelegramSource(t *testing.T) {
	src, err := OpenTelegram("tgexport/testdata/single", "result.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	items := collect(t, src)
	byID := map[int]*Item{}
	for _, it := range items {
		byID[it.RemoteID] = it
		if it.Chat.TGPeer == nil || *it.Chat.TGPeer != (portal.TGPeer{Kind: portal.TGChannel, ID: 1876543210}) || it.Chat.DM {
			t.Fatalf("message %d: chat %+v, want the supergroup as a channel peer", it.RemoteID, it.Chat)
		}
	}
	checks := []struct {
		id    int
		check func(*Item) bool
		what  string
	}{
		{1, func(it *Item) bool {
			return it.Service && strings.Contains(it.Text, "created the group «Atelier Vélo»")
		}, "group creation notice"},
		{2, func(it *Item) bool {
			return it.Service && strings.HasPrefix(it.Text, "Camille Durand added Inès Moreau")
		}, "invite notice without the deleted member"},
		{3, func(it *Item) bool {
			return *it.Sender.TG == portal.TGPeer{Kind: portal.TGUser, ID: 111111} && it.Sender.Name == "Camille Durand"
		}, "sender by from_id"},
		{5, func(it *Item) bool { return it.ReplyTo == "tg:1876543210:4" && it.Edited && !it.EditedAt.IsZero() }, "reply key and edit"},
		{6, func(it *Item) bool { return it.Forwarded != "" }, "forward"},
		{7, func(it *Item) bool { return it.Media.Kind == MediaImage && it.Media.Path != "" }, "photo"},
		{8, func(it *Item) bool { return it.Media.Kind == MediaSticker }, "sticker"},
		{9, func(it *Item) bool { return it.Media.Kind == MediaVoice }, "voice"},
		{15, func(it *Item) bool {
			return it.Media.Path == "" && strings.Contains(it.Media.Missing, "File not included")
		}, "missing file"},
		{16, func(it *Item) bool { return it.Location != nil && !it.Location.Live }, "location"},
		{17, func(it *Item) bool { return it.Location != nil && it.Location.Live }, "live location"},
		{19, func(it *Item) bool { return it.Contact != nil && it.Contact.Name != "" }, "contact"},
		{20, func(it *Item) bool { return it.Poll != nil && it.Poll.Closed && len(it.Poll.Answers) == 2 }, "poll"},
		{23, func(it *Item) bool { return it.Service && it.ReplyTo != "" }, "pin points at the pinned message"},
		{32, func(it *Item) bool { return it.ReplyTo == "" }, "reply into another chat is not a reply here"},
		{29, func(it *Item) bool { return it.Text == "Partie" && strings.Contains(it.Extra, "game_title") }, "unsupported fields named"},
		{31, func(it *Item) bool { return it.Service && strings.Contains(it.Text, "story_id") }, "unsupported message said in its place"},
		{30, func(it *Item) bool { return it.Extra == "" }, "unknown entity types are not noise"},
	}
	for _, c := range checks {
		it := byID[c.id]
		if it == nil || !c.check(it) {
			t.Errorf("message %d: %s not mapped: %+v", c.id, c.what, it)
		}
	}
	rc, err := src.OpenMedia(byID[7].Media.Path)
	if err != nil {
		t.Fatalf("open photo: %v", err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if len(data) == 0 {
		t.Error("photo is empty")
	}
}

func TestTelegramPersonalChatSelf(t *testing.T) {
	dir := writeTG(t, "Bob", "personal_chat", 5000, []map[string]any{
		tgMsg(1, 1700000000, 5000, "Bob", "hi", nil),
		tgMsg(2, 1700000001, 9001, "Me", "hello", nil),
	}, nil)
	src, err := OpenTelegram(dir, "result.json", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	items := collect(t, src)
	final := src.(finalChats).FinalChats()["tg:5000"]
	if final == nil || !final.DM || final.OtherUser == nil || final.Name != "Bob" {
		t.Fatalf("final chat = %+v", final)
	}
	r := &run{req: &Request{}, src: src}
	if r.isSelf(items[0].Sender, final) || !r.isSelf(items[1].Sender, final) {
		t.Error("without a login, the sender who is not the other side of a personal chat is the exporter")
	}
}

func TestWhatsAppSource(t *testing.T) {
	src, err := OpenWhatsApp("waexport/testdata/ios_with_media.zip", "ios_with_media.zip", WAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	items := collect(t, src)
	var photo, omitted, deleted, edited, phone, location, contact, service *Item
	for _, it := range items {
		switch {
		case it.Media != nil && it.Media.Kind == MediaImage && it.Media.Path != "":
			photo = it
		case it.Media != nil && it.Media.Path == "" && omitted == nil:
			omitted = it
		case it.Deleted:
			deleted = it
		case it.Edited:
			edited = it
		case it.Sender.Phone != "":
			phone = it
		case it.Location != nil:
			location = it
		case it.Contact != nil:
			contact = it
		case it.Service && service == nil:
			service = it
		}
		if !strings.HasPrefix(it.Pos, "ios_with_media.zip/_chat.txt:") {
			t.Errorf("position %q does not name the file and line", it.Pos)
		}
	}
	for name, it := range map[string]*Item{"photo": photo, "omitted": omitted, "deleted": deleted, "edited": edited, "phone": phone, "location": location, "contact": contact, "service": service} {
		if it == nil {
			t.Errorf("no %s message mapped", name)
		}
	}
	if phone != nil && phone.Sender.Phone != "+33612345678" {
		t.Errorf("phone sender = %+v", phone.Sender)
	}
	if omitted != nil && !strings.Contains(omitted.Media.Missing, "without media") {
		t.Errorf("omitted media reason = %q", omitted.Media.Missing)
	}
	if photo != nil {
		rc, err := src.OpenMedia(photo.Media.Path)
		if err != nil {
			t.Fatalf("open photo: %v", err)
		}
		rc.Close()
	}
}

func TestSurvey(t *testing.T) {
	dir := writeTG(t, "G", "private_supergroup", 1, []map[string]any{
		tgMsg(1, 1, 10, "A", "a", nil), tgMsg(2, 2, 11, "B", "b", nil), tgMsg(3, 3, 10, "A", "c", nil),
	}, nil)
	p, err := survey(func() (Source, error) { return OpenTelegram(dir, "result.json", nil) })
	if err != nil {
		t.Fatal(err)
	}
	cp := p.chats["tg:1"]
	if p.total != 3 || cp == nil || cp.count != 3 || len(cp.senders) != 2 {
		t.Fatalf("plan = %+v (chat %+v)", p, cp)
	}

	bad := []struct {
		name, content, want string
	}{
		{"truncated", `{"name": "G", "type": "private_group", "id": 1, "messages": [{"id": 1, "type": "message", "date": "2023-01-01T00:00:00"`, "$.messages[0]"},
		{"not an export", `{"hello": "world"}`, "result.json"},
		{"no messages", `{"name": "G", "type": "private_group", "id": 1, "messages": []}`, "holds no messages"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			d := t.TempDir()
			if err := os.WriteFile(filepath.Join(d, "result.json"), []byte(tc.content), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := survey(func() (Source, error) { return OpenTelegram(d, "result.json", nil) })
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}

	// WhatsApp errors name file and line.
	d := t.TempDir()
	p2 := filepath.Join(d, "chat.txt")
	if err := os.WriteFile(p2, []byte("31/12/2023, 21:41 - A: b\n45/13/2023, 21:42 - A: c\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = survey(func() (Source, error) { return OpenWhatsApp(p2, "chat.txt", WAOptions{}) })
	var waErr *waexport.Error
	if err == nil || !errors.As(err, &waErr) || !strings.HasPrefix(err.Error(), "chat.txt:") {
		t.Fatalf("WhatsApp error = %v, want a waexport.Error naming chat.txt and its line", err)
	}
	if waErr.Line != 2 && !strings.Contains(err.Error(), "line 2") {
		t.Errorf("WhatsApp error points at line %d, want 2: %v", waErr.Line, err)
	}
}

func TestWhatsAppDMDetection(t *testing.T) {
	cases := []struct {
		file, txt string
		dm        bool
		self      string
	}{
		{"WhatsApp Chat with Anna.txt", "31/12/2023, 21:41 - Anna: salut\n31/12/2023, 21:42 - Bob: hello\n31/12/2023, 21:43 - Anna: ça va\n", true, "Bob"},
		{"WhatsApp Chat with Famille.txt", "31/12/2023, 21:41 - Anna: salut\n31/12/2023, 21:42 - Bob: hello\n", false, ""},
		{"WhatsApp Chat with Anna.txt", "31/12/2023, 21:41 - Anna: a\n31/12/2023, 21:42 - Bob: b\n31/12/2023, 21:43 - Carl: c\n", false, ""},
	}
	for _, tc := range cases {
		p := filepath.Join(t.TempDir(), tc.file)
		if err := os.WriteFile(p, []byte(tc.txt), 0o644); err != nil {
			t.Fatal(err)
		}
		src, err := OpenWhatsApp(p, tc.file, WAOptions{})
		if err != nil {
			t.Fatal(err)
		}
		items := collect(t, src)
		src.Close()
		self := ""
		for _, it := range items {
			if it.Sender.Self {
				self = it.Sender.Name
			}
		}
		if items[0].Chat.DM != tc.dm || self != tc.self {
			t.Errorf("%s %q: DM=%v self=%q, want %v %q", tc.file, tc.txt, items[0].Chat.DM, self, tc.dm, tc.self)
		}
		if tc.dm && (items[0].Chat.OtherUser == nil || items[0].Chat.OtherUser.Name != "Anna") {
			t.Errorf("other user = %+v", items[0].Chat.OtherUser)
		}
	}
}
