package tgexport

import (
	"bytes"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func readFixture(t *testing.T, dir string) ([]*Message, []*Chat, *Export) {
	t.Helper()
	exp, err := Open("testdata/"+dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Close() })
	var msgs []*Message
	for {
		m, err := exp.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, m)
	}
	return msgs, exp.Chats(), exp
}

func byID(msgs []*Message) map[int64]*Message {
	out := map[int64]*Message{}
	for _, m := range msgs {
		out[m.ID] = m
	}
	return out
}

func TestSingleChat(t *testing.T) {
	msgs, chats, exp := readFixture(t, "single")
	if len(msgs) != 33 {
		t.Fatalf("got %d messages, want 33", len(msgs))
	}
	if len(chats) != 1 || chats[0].ID != 1876543210 || chats[0].Name != "Atelier Vélo" || chats[0].Type != "private_supergroup" {
		t.Fatalf("chat = %+v", chats[0])
	}
	keys := map[string]bool{}
	for _, m := range msgs {
		if keys[m.Key] {
			t.Errorf("duplicate key %s", m.Key)
		}
		keys[m.Key] = true
	}
	m := byID(msgs)
	paris, _ := time.LoadLocation("Europe/Paris")

	tests := []struct {
		id    int64
		check func(t *testing.T, m *Message)
	}{
		{1, func(t *testing.T, m *Message) {
			wantService(t, m, "create_group")
			if m.Service.Title != "Atelier Vélo" || strings.Join(m.Service.Members, ",") != "Camille Durand,Bastien Roux" {
				t.Errorf("service = %+v", m.Service)
			}
			if m.Sender.Kind != PeerUser || m.Sender.ID != 111111 || m.Sender.Name != "Camille Durand" {
				t.Errorf("actor = %+v", m.Sender)
			}
			if !m.Time.Equal(time.Date(2023, 12, 30, 11, 0, 0, 0, paris)) {
				t.Errorf("time = %v", m.Time)
			}
			if m.Key != "tg:1876543210:1" {
				t.Errorf("key = %s", m.Key)
			}
		}},
		{2, func(t *testing.T, m *Message) {
			wantService(t, m, "invite_members")
			if len(m.Service.Members) != 2 || m.Service.Members[1] != "" {
				t.Errorf("members = %q", m.Service.Members)
			}
		}},
		{3, func(t *testing.T, m *Message) {
			if m.Text.Plain != "Bonjour à tous ! Rendez-vous samedi <10h> & café ☕" || m.Text.HTML != "" {
				t.Errorf("text = %+v", m.Text)
			}
			if m.Media != nil || m.Service != nil || len(m.Unsupported) != 0 {
				t.Errorf("unexpected extras: %+v", m)
			}
		}},
		{4, func(t *testing.T, m *Message) {
			for _, want := range []string{
				"Les <strong>freins</strong> sont <em>à régler</em>",
				`<a href="https://example.org/freins?a=1&amp;b=2">le guide</a>`,
				`<a href="https://velo.example.com">velo.example.com</a>`,
				"<u>Important</u> <del>vendredi</del> <span data-mx-spoiler>surprise</span> <code>x &lt; y</code><br>",
				"<pre><code class=\"language-rust\">fn main() {\n  println!(&#34;&lt;ok&gt;&#34;);\n}</code></pre>",
				"@ines_m Camille #vélo $EUR /start",
				`<a href="mailto:atelier@example.org">atelier@example.org</a>`,
				`<a href="tel:+33612345678">+33 6 12 34 56 78</a>`,
				"<blockquote>Un vélo bien réglé<br>est un vélo sûr</blockquote>🚲 piège",
			} {
				if !strings.Contains(m.Text.HTML, want) {
					t.Errorf("HTML lacks %q:\n%s", want, m.Text.HTML)
				}
			}
			if strings.Contains(m.Text.HTML, "javascript") {
				t.Errorf("unsafe link kept: %s", m.Text.HTML)
			}
			if !strings.HasPrefix(m.Text.Plain, "Les freins sont à régler, voir le guide") {
				t.Errorf("plain = %q", m.Text.Plain)
			}
			var ce *Entity
			for i := range m.Text.Entities {
				if m.Text.Entities[i].Type == "custom_emoji" {
					ce = &m.Text.Entities[i]
				}
			}
			if ce == nil || ce.DocumentID != "5368324170671202286" {
				t.Errorf("custom emoji = %+v", ce)
			}
		}},
		{5, func(t *testing.T, m *Message) {
			if m.ReplyTo != 4 || !m.Edited.Equal(time.Date(2023, 12, 30, 11, 5, 30, 0, paris)) {
				t.Errorf("reply %d edited %v", m.ReplyTo, m.Edited)
			}
		}},
		{6, func(t *testing.T, m *Message) {
			if m.Forwarded == nil || m.Forwarded.From != "Club Cyclo Lyon" {
				t.Errorf("forwarded = %+v", m.Forwarded)
			}
		}},
		{7, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaPhoto, Path: "photos/photo_1@30-12-2023_11-06-00.jpg", MIME: "image/jpeg", Size: 45, Width: 1280, Height: 960})
			if m.Text.Plain != "Le nouveau local" {
				t.Errorf("caption = %q", m.Text.Plain)
			}
		}},
		{8, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaSticker, Path: "stickers/sticker.webp", FileName: "sticker.webp", MIME: "image/webp", Size: 30, Width: 512, Height: 512, Thumbnail: "stickers/sticker.webp_thumb.jpg", StickerEmoji: "👍"})
		}},
		{9, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaVoice, Path: "voice_messages/audio_1@30-12-2023_11-08-00.ogg", MIME: "audio/ogg", Size: 22, Duration: 7 * time.Second})
		}},
		{10, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaVideo, Path: "video_files/trajet.mp4", FileName: "trajet.mp4", MIME: "video/mp4", Size: 40, Duration: 63 * time.Second, Width: 1920, Height: 1080, Thumbnail: "video_files/trajet.mp4_thumb.jpg"})
		}},
		{11, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaVideoMessage, Path: "round_video_messages/file_1@30-12-2023_11-10-00.mp4", MIME: "video/mp4", Size: 33, Duration: 12 * time.Second, Width: 384, Height: 384})
		}},
		{12, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaAudio, Path: "files/chanson.mp3", FileName: "chanson.mp3", MIME: "audio/mpeg", Size: 25, Duration: 185 * time.Second, Performer: "Les Pédaleurs", Title: "Roue libre"})
		}},
		{13, func(t *testing.T, m *Message) {
			// No file_size in the JSON: the size comes from the disk.
			wantMedia(t, m, Media{Kind: MediaAnimation, Path: "video_files/chute.gif.mp4", FileName: "chute.gif.mp4", MIME: "video/mp4", Size: 18, Duration: 3 * time.Second, Width: 320, Height: 240})
		}},
		{14, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaFile, Path: "files/devis.pdf", FileName: "devis.pdf", MIME: "application/pdf", Size: 28})
		}},
		{15, func(t *testing.T, m *Message) {
			wantMedia(t, m, Media{Kind: MediaVideo, Missing: "(File not included. Change data exporting settings to download.)", FileName: "grosse_video.mov", MIME: "video/quicktime", Size: 734003200, Duration: 600 * time.Second, Width: 3840, Height: 2160})
		}},
		{16, func(t *testing.T, m *Message) {
			if m.Location == nil || m.Location.Latitude != 45.764043 || m.Location.Longitude != 4.835659 || m.Location.LivePeriod != 0 {
				t.Errorf("location = %+v", m.Location)
			}
		}},
		{17, func(t *testing.T, m *Message) {
			if m.Location == nil || m.Location.LivePeriod != 15*time.Minute {
				t.Errorf("live location = %+v", m.Location)
			}
		}},
		{18, func(t *testing.T, m *Message) {
			if m.Location == nil || m.Location.Place != "Atelier du Rhône" || m.Location.Address != "12 quai du Rhône, Lyon" {
				t.Errorf("venue = %+v", m.Location)
			}
		}},
		{19, func(t *testing.T, m *Message) {
			want := Contact{FirstName: "Inès", LastName: "Moreau", Phone: "+33698765432", PhoneRaw: "+33 6 98 76 54 32", VCard: "files/contacts/contact_1.vcf"}
			if m.Contact == nil || *m.Contact != want {
				t.Errorf("contact = %+v", m.Contact)
			}
		}},
		{20, func(t *testing.T, m *Message) {
			p := m.Poll
			if p == nil || p.Question != "Quel jour ?" || !p.Closed || p.TotalVoters != 3 || len(p.Answers) != 2 ||
				p.Answers[0] != (PollAnswer{Text: "Samedi", Voters: 2, Chosen: true}) || p.Answers[1] != (PollAnswer{Text: "Dimanche", Voters: 1}) {
				t.Errorf("poll = %+v", p)
			}
		}},
		{21, func(t *testing.T, m *Message) {
			wantService(t, m, "edit_group_title")
			if m.Service.Title != "Atelier Vélo Lyon" {
				t.Errorf("title = %q", m.Service.Title)
			}
		}},
		{22, func(t *testing.T, m *Message) {
			wantService(t, m, "edit_group_photo")
			if p := m.Service.Photo; p == nil || p.Path != "photos/photo_2@30-12-2023_11-21-00.jpg" || p.Width != 640 || p.Size != 20 {
				t.Errorf("photo = %+v", p)
			}
		}},
		{23, func(t *testing.T, m *Message) {
			wantService(t, m, "pin_message")
			if m.Service.MessageID != 20 {
				t.Errorf("pinned = %d", m.Service.MessageID)
			}
		}},
		{24, func(t *testing.T, m *Message) { wantService(t, m, "remove_members") }},
		{25, func(t *testing.T, m *Message) {
			wantService(t, m, "phone_call")
			if m.Service.Duration != 125*time.Second || m.Service.DiscardReason != "hangup" || m.Sender.ID != 222222 {
				t.Errorf("call = %+v from %+v", m.Service, m.Sender)
			}
		}},
		{26, func(t *testing.T, m *Message) { wantService(t, m, "migrate_to_supergroup") }},
		{27, func(t *testing.T, m *Message) {
			wantService(t, m, "boost_apply")
			wantUnsupported(t, m, "$.messages[26].boosts")
		}},
		{28, func(t *testing.T, m *Message) {
			if m.Sender.Name != "" || m.Sender.ID != 333333 {
				t.Errorf("deleted sender = %+v", m.Sender)
			}
			if len(m.Reactions) != 1 || m.Reactions[0].Type != "emoji" || m.Reactions[0].Emoji != "❤️" || m.Reactions[0].Count != 2 {
				t.Errorf("reactions = %+v", m.Reactions)
			}
			if r := m.Reactions[0].Recent; len(r) != 1 || r[0].Peer.ID != 111111 || r[0].Peer.Name != "Camille Durand" ||
				!r[0].Time.Equal(time.Date(2023, 12, 30, 11, 28, 0, 0, time.UTC)) {
				t.Errorf("recent = %+v", r)
			}
		}},
		{29, func(t *testing.T, m *Message) {
			wantUnsupported(t, m, "$.messages[28].game_description", "$.messages[28].game_title")
		}},
		{30, func(t *testing.T, m *Message) {
			if m.Text.Plain != "brille fin" || m.Text.HTML != "" {
				t.Errorf("text = %+v", m.Text)
			}
			wantUnsupported(t, m, "$.messages[29].text_entities[0]")
		}},
		{31, func(t *testing.T, m *Message) {
			wantUnsupported(t, m, "$.messages[30].type", "$.messages[30].story_id", "$.messages[30].text", "$.messages[30].text_entities")
			if m.Time.IsZero() {
				t.Error("time lost for unsupported type")
			}
		}},
		{32, func(t *testing.T, m *Message) {
			if m.Sender.Kind != PeerChannel || m.Sender.ID != 444444 || m.Author != "Rédaction" || m.ViaBot != "@velobot" ||
				m.ReplyTo != 77 || m.ReplyToPeer.Kind != PeerChannel || m.ReplyToPeer.ID != 444444 {
				t.Errorf("channel post = %+v", m)
			}
		}},
		{33, func(t *testing.T, m *Message) {
			// Old exports have no *_unixtime: wall time read in Options.Location (UTC here).
			if !m.Time.Equal(time.Date(2023, 12, 30, 11, 32, 0, 0, time.UTC)) || !m.Edited.Equal(time.Date(2023, 12, 30, 11, 40, 0, 0, time.UTC)) {
				t.Errorf("time %v edited %v", m.Time, m.Edited)
			}
		}},
	}
	for _, tc := range tests {
		msg := m[tc.id]
		if msg == nil {
			t.Errorf("message %d missing", tc.id)
			continue
		}
		t.Run(msg.Key, func(t *testing.T) { tc.check(t, msg) })
	}

	// Every exported media file can be opened through the export.
	for _, msg := range msgs {
		if msg.Media == nil || msg.Media.Path == "" {
			continue
		}
		f, err := exp.OpenMedia(msg.Media.Path)
		if err != nil {
			t.Errorf("open %s: %v", msg.Media.Path, err)
			continue
		}
		f.Close()
		if msg.Media.Size != 0 {
			if n, err := exp.MediaSize(msg.Media.Path); err != nil || n != msg.Media.Size {
				t.Errorf("size of %s = %d, %v; JSON says %d", msg.Media.Path, n, err, msg.Media.Size)
			}
		}
	}
	if _, err := exp.OpenMedia("../account/result.json"); err == nil {
		t.Error("OpenMedia left the export folder")
	}
}

func TestLocationOption(t *testing.T) {
	data, err := os.ReadFile("testdata/single/result.json")
	if err != nil {
		t.Fatal(err)
	}
	paris, _ := time.LoadLocation("Europe/Paris")
	msgs, _, err := ReadAll(bytes.NewReader(data), Options{Location: paris})
	if err != nil {
		t.Fatal(err)
	}
	old := msgs[len(msgs)-1]
	if want := time.Date(2023, 12, 30, 11, 32, 0, 0, paris); !old.Time.Equal(want) {
		t.Errorf("old-format time = %v, want %v", old.Time, want)
	}
	// Messages with date_unixtime do not depend on the option.
	if want := time.Date(2023, 12, 30, 10, 0, 0, 0, time.UTC); !msgs[0].Time.Equal(want) {
		t.Errorf("time = %v, want %v", msgs[0].Time, want)
	}
}

func TestWholeAccount(t *testing.T) {
	msgs, chats, exp := readFixture(t, "account")
	if len(chats) != 3 {
		t.Fatalf("chats = %d", len(chats))
	}
	want := []struct {
		id   int64
		typ  string
		left bool
		path string
	}{
		{222222, "personal_chat", false, "$.chats.list[0]"},
		{111111, "saved_messages", false, "$.chats.list[1]"},
		{1999999999, "public_supergroup", true, "$.left_chats.list[0]"},
	}
	for i, w := range want {
		c := chats[i]
		if c.ID != w.id || c.Type != w.typ || c.Left != w.left || c.Path != w.path {
			t.Errorf("chat %d = %+v, want %+v", i, c, w)
		}
	}
	gotKeys := []string{}
	for _, m := range msgs {
		gotKeys = append(gotKeys, m.Key)
	}
	if strings.Join(gotKeys, " ") != "tg:222222:1001 tg:222222:1002 tg:111111:1003 tg:1999999999:5" {
		t.Errorf("keys = %v", gotKeys)
	}
	if msgs[2].Forwarded == nil || msgs[2].Forwarded.SavedFrom != "Bastien Roux" {
		t.Errorf("saved = %+v", msgs[2].Forwarded)
	}
	var paths []string
	for _, u := range exp.Unsupported() {
		paths = append(paths, u.Path)
	}
	if strings.Join(paths, " ") != "$.about $.personal_information $.contacts" {
		t.Errorf("unsupported sections = %v", paths)
	}
}

func TestStopEarly(t *testing.T) {
	data, err := os.ReadFile("testdata/single/result.json")
	if err != nil {
		t.Fatal(err)
	}
	r := NewReader(bytes.NewReader(data), Options{})
	n := 0
	for m, err := range r.All() {
		if err != nil {
			t.Fatal(err)
		}
		n++
		if m.ID == 3 {
			break
		}
	}
	if n != 3 {
		t.Errorf("read %d", n)
	}
	for _, err := range r.All() {
		if err == nil {
			t.Error("second All did not fail")
		}
	}
}

func wantService(t *testing.T, m *Message, action string) {
	t.Helper()
	if m.Service == nil || m.Service.Action != action {
		t.Fatalf("service = %+v, want action %s", m.Service, action)
	}
}

func wantMedia(t *testing.T, m *Message, want Media) {
	t.Helper()
	if m.Media == nil {
		t.Fatalf("no media")
	}
	if *m.Media != want {
		t.Errorf("media =\n%+v\nwant\n%+v", *m.Media, want)
	}
	if len(m.Unsupported) != 0 {
		t.Errorf("unsupported: %+v", m.Unsupported)
	}
}

func wantUnsupported(t *testing.T, m *Message, paths ...string) {
	t.Helper()
	var got []string
	for _, u := range m.Unsupported {
		got = append(got, u.Path)
		if len(u.Raw) == 0 {
			t.Errorf("%s has no raw JSON", u.Path)
		}
	}
	if strings.Join(got, " ") != strings.Join(paths, " ") {
		t.Errorf("unsupported = %v, want %v", got, paths)
	}
}

// Telegram Desktop 1.x wrote numeric from_id/actor_id and no
// text_entities or *_unixtime.
func TestOldNumericIDs(t *testing.T) {
	tests := []struct {
		chatType string
		kind     PeerKind
	}{
		{"personal_chat", PeerUser},
		{"private_supergroup", PeerUser},
		{"public_channel", PeerChannel},
	}
	for _, tc := range tests {
		in := `{"name":"Old","type":"` + tc.chatType + `","id":77,"messages":[` +
			`{"id":1,"type":"message","date":"2019-05-01T10:00:00","from":"Ann","from_id":4242,"text":["a ",{"type":"bold","text":"b"}]},` +
			`{"id":2,"type":"service","date":"2019-05-01T10:01:00","actor":"Ann","actor_id":4242,"action":"pin_message","message_id":1,"text":""}]}`
		msgs, _, err := ReadAll(strings.NewReader(in), Options{})
		if err != nil {
			t.Fatal(err)
		}
		if len(msgs) != 2 {
			t.Fatalf("%d messages", len(msgs))
		}
		for _, m := range msgs {
			if m.Sender.ID != 4242 || m.Sender.Kind != tc.kind || m.Sender.Raw != "4242" {
				t.Errorf("%s: sender %+v, want %s 4242", tc.chatType, m.Sender, tc.kind)
			}
		}
		if msgs[0].Text.HTML != "a <strong>b</strong>" {
			t.Errorf("html %q", msgs[0].Text.HTML)
		}
	}
}

func TestTextFallback(t *testing.T) {
	in := `{"id":1,"messages":[{"id":1,"type":"message","date_unixtime":"1","text":"kept","text_entities":[]},` +
		`{"id":2,"type":"message","date_unixtime":"2","text":"ignored","text_entities":[{"type":"italic","text":"used"}]}]}`
	msgs, _, err := ReadAll(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if msgs[0].Text.Plain != "kept" || msgs[1].Text.Plain != "used" || msgs[1].Text.HTML != "<em>used</em>" {
		t.Errorf("texts %+v / %+v", msgs[0].Text, msgs[1].Text)
	}
}

func TestPollUnknownFieldsKept(t *testing.T) {
	in := `{"id":1,"messages":[{"id":1,"type":"message","date_unixtime":"1","poll":{"question":"q","quiz":true,"answers":[{"text":"a","voters":1,"correct":true}]}}]}`
	msgs, _, err := ReadAll(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	m := msgs[0]
	if m.Poll == nil || m.Poll.Question != "q" || len(m.Poll.Answers) != 1 || m.Poll.Answers[0].Voters != 1 {
		t.Fatalf("poll %+v", m.Poll)
	}
	wantUnsupported(t, m, "$.messages[0].poll.answers[0].correct", "$.messages[0].poll.quiz")
}
