package waexport

import (
	"io"
	"os"
	"strings"
	"testing"
	"time"
)

func parseFixture(t *testing.T, name string, opts Options) *Export {
	t.Helper()
	exp, err := ParseFile("testdata/"+name, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { exp.Close() })
	return exp
}

func byLine(exp *Export) map[int]*Message {
	out := map[int]*Message{}
	for _, m := range exp.Messages {
		out[m.Line] = m
	}
	return out
}

type lineCheck struct {
	line  int
	check func(t *testing.T, m *Message)
}

func runChecks(t *testing.T, exp *Export, checks []lineCheck) {
	t.Helper()
	m := byLine(exp)
	for _, c := range checks {
		msg := m[c.line]
		if msg == nil {
			t.Errorf("no message starts on line %d", c.line)
			continue
		}
		t.Run(msg.Key, func(t *testing.T) { c.check(t, msg) })
	}
	keys := map[string]bool{}
	for _, msg := range exp.Messages {
		if keys[msg.Key] {
			t.Errorf("duplicate key %s", msg.Key)
		}
		keys[msg.Key] = true
	}
}

func text(want, html string) func(t *testing.T, m *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		if m.Text.Plain != want || m.Text.HTML != html {
			t.Errorf("text = %q / %q, want %q / %q", m.Text.Plain, m.Text.HTML, want, html)
		}
	}
}

func from(name, phone string, rest ...func(t *testing.T, m *Message)) func(t *testing.T, m *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		if m.Sender.Name != name || m.Sender.Phone != phone || m.Service != nil && m.Service.Action != "call" {
			t.Errorf("sender = %+v service = %+v, want %q %q", m.Sender, m.Service, name, phone)
		}
		for _, f := range rest {
			f(t, m)
		}
	}
}

func service(action, actor string, check ...func(t *testing.T, s *Service)) func(t *testing.T, m *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		if m.Service == nil || m.Service.Action != action || m.Service.Actor.Name != actor {
			t.Fatalf("service = %+v, want %s by %q", m.Service, action, actor)
		}
		if m.Service.Action != "call" && m.Sender.Name != "" {
			t.Errorf("system line has sender %+v", m.Sender)
		}
		for _, f := range check {
			f(t, m.Service)
		}
	}
}

func media(want Media) func(t *testing.T, m *Message) {
	return func(t *testing.T, m *Message) {
		t.Helper()
		if m.Media == nil || *m.Media != want {
			t.Errorf("media = %+v, want %+v", m.Media, want)
		}
	}
}

func members(names ...string) func(t *testing.T, s *Service) {
	return func(t *testing.T, s *Service) {
		var got []string
		for _, m := range s.Members {
			got = append(got, m.ID)
		}
		if strings.Join(got, "|") != strings.Join(names, "|") {
			t.Errorf("members = %q, want %q", got, names)
		}
	}
}

func TestAndroidUS(t *testing.T) {
	exp := parseFixture(t, "android_us.txt", Options{})
	if exp.Platform != Android || exp.DateOrder != MonthDayYear {
		t.Fatalf("platform %s order %s (%s)", exp.Platform, exp.DateOrder, exp.DateOrderReason)
	}
	if len(exp.Messages) != 29 {
		t.Errorf("%d messages", len(exp.Messages))
	}
	runChecks(t, exp, androidChecks(false))
}

func androidChecks(withMedia bool) []lineCheck {
	size := func(n int64) int64 {
		if withMedia {
			return n
		}
		return 0
	}
	return []lineCheck{
		{1, service("encryption_notice", "")},
		{2, service("create_group", "Maria Lopez", func(t *testing.T, s *Service) {
			if s.Subject != "Family Lopez 🎉" {
				t.Errorf("subject %q", s.Subject)
			}
		})},
		{3, service("add_members", "Maria Lopez", members("Jake Lopez", "+14155550134", "Grandma"))},
		{4, from("Maria Lopez", "", text("Happy new year everyone! *Party* at _our_ place, ~8pm~ 9pm",
			"Happy new year everyone! <strong>Party</strong> at <em>our</em> place, <del>8pm</del> 9pm"), func(t *testing.T, m *Message) {
			if want := time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC); !m.Time.Equal(want) {
				t.Errorf("time %v", m.Time)
			}
		})},
		{5, from("Jake Lopez", "", text("Who brings the food?\n- chips\n- salsa\n- my_favourite_snack",
			"Who brings the food?<ul><li>chips</li><li>salsa</li><li>my_favourite_snack</li></ul>"))},
		{9, from("+1 (415) 555-0134", "+14155550134", text("I'll bring ```cake``` and `plates` <3",
			"I&#39;ll bring <code>cake</code> and <code>plates</code> &lt;3"))},
		{10, from("Grandma", "", text("Me in 1975 😄", ""), media(Media{Kind: MediaPhoto, Path: "IMG-20231231-WA0001.jpg", MIME: "image/jpeg", Present: withMedia, Size: size(8)}))},
		{12, from("Grandma", "", text("", ""), media(Media{Omitted: true}))},
		{13, from("Jake Lopez", "", func(t *testing.T, m *Message) {
			if !m.Deleted || m.Text.Plain != "" {
				t.Errorf("deleted %v text %q", m.Deleted, m.Text.Plain)
			}
		})},
		{14, from("Maria Lopez", "", text("See you at 9", ""), func(t *testing.T, m *Message) {
			if !m.Edited {
				t.Error("not edited")
			}
		})},
		{15, from("Maria Lopez", "", func(t *testing.T, m *Message) {
			if l := m.Location; l == nil || l.Latitude != 37.7749 || l.Longitude != -122.4194 || l.Live {
				t.Errorf("location %+v", l)
			}
		})},
		{16, from("Jake Lopez", "", func(t *testing.T, m *Message) {
			p := m.Poll
			if p == nil || p.Question != "Dessert?" || len(p.Options) != 2 || p.Options[0] != (PollOption{"Flan", 2}) || p.Options[1] != (PollOption{"Churros", 1}) {
				t.Errorf("poll %+v", p)
			}
		})},
		{20, service("change_subject", "Maria Lopez", func(t *testing.T, s *Service) {
			if s.OldSubject != "Family Lopez 🎉" || s.Subject != "Lopez NYE 2024" {
				t.Errorf("subject %q -> %q", s.OldSubject, s.Subject)
			}
		})},
		{21, service("change_icon", "Maria Lopez")},
		{22, from("Jake Lopez", "", func(t *testing.T, m *Message) {
			c := m.Contact
			want := "Alice Wong||"
			if withMedia {
				want = "Alice Wong|+14155550199|Alice Wong.vcf"
			}
			if c == nil || c.Name+"|"+strings.Join(c.Phones, ",")+"|"+c.VCard != want {
				t.Errorf("contact %+v, want %s", c, want)
			}
		})},
		{23, service("remove_members", "Maria Lopez", members("Grandma"))},
		{24, service("leave", "Jake Lopez")},
		// A message whose text looks like a system line stays a message.
		{25, from("+1 (415) 555-0134", "+14155550134", text("Note: Bob left early", ""))},
		{26, from("Maria Lopez", "", func(t *testing.T, m *Message) {
			want := "<pre><code>func main() {\n    fmt.Println(&#34;&lt;happy&gt; &amp; new&#34;)\n}\n</code></pre>"
			if m.Text.HTML != want || !m.Time.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("html %q time %v", m.Text.HTML, m.Time)
			}
		})},
		{31, from("Maria Lopez", "", media(Media{Kind: MediaVoice, Path: "PTT-20240101-WA0002.opus", MIME: "audio/ogg", Present: withMedia, Size: size(10)}))},
		{32, from("Maria Lopez", "", text("", ""), media(Media{Kind: MediaFile, Path: "Budget 2024.pdf", MIME: "application/pdf", Present: withMedia, Size: size(11)}))},
		{34, service("change_description", "Maria Lopez")},
		{35, service("join", "Jake Lopez")},
		{36, service("pin_message", "Maria Lopez")},
		{37, service("disappearing_messages", "Jake Lopez")},
		{38, from("Maria Lopez", "", text("> Happy new year everyone!\nSame to you", "<blockquote>Happy new year everyone!</blockquote>Same to you"))},
		{40, from("Jake Lopez", "", func(t *testing.T, m *Message) {
			if m.Location == nil || !m.Location.Live || !m.Time.Equal(time.Date(2024, 1, 1, 13, 15, 0, 0, time.UTC)) {
				t.Errorf("live location %+v at %v", m.Location, m.Time)
			}
		})},
		{41, from("Jake Lopez", "", text("Maria Lopez: she said so", ""))},
		{42, service("change_number", "Bob Stone")},
	}
}

func TestIOSEurope(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	exp := parseFixture(t, "ios_eu.txt", Options{Location: paris})
	if exp.Platform != IOS || exp.DateOrder != DayMonthYear {
		t.Fatalf("platform %s order %s", exp.Platform, exp.DateOrder)
	}
	// iOS system events come "from" the chat, which names it.
	if exp.ChatName != "Cercle Lecture" {
		t.Errorf("chat name %q", exp.ChatName)
	}
	runChecks(t, exp, iosChecks(false, paris))
}

func iosChecks(withMedia bool, loc *time.Location) []lineCheck {
	present := func(n int64) (bool, int64) {
		if withMedia {
			return true, n
		}
		return false, 0
	}
	p12, s12 := present(60)
	p13, s13 := present(14)
	p14, s14 := present(13)
	p16, s16 := present(12)
	return []lineCheck{
		{1, service("encryption_notice", "")},
		{2, service("create_group", "Élise Martin", func(t *testing.T, s *Service) {
			if s.Subject != "Cercle Lecture" {
				t.Errorf("subject %q", s.Subject)
			}
		})},
		{3, service("add_members", "Élise Martin", members("Hugo"))},
		{4, from("Élise Martin", "", text("Bonjour ! Le prochain livre : *Les Misérables* 📚", "Bonjour ! Le prochain livre : <strong>Les Misérables</strong> 📚"), func(t *testing.T, m *Message) {
			if want := time.Date(2024, 2, 28, 8, 1, 15, 0, loc); !m.Time.Equal(want) || m.Time.Location() != loc {
				t.Errorf("time %v want %v", m.Time, want)
			}
		})},
		{5, from("Hugo", "", media(Media{Kind: MediaPhoto, Path: "00000012-PHOTO-2024-02-28-08-02-00.jpg", MIME: "image/jpeg", Present: p12, Size: s12}))},
		{6, from("Élise Martin", "", media(Media{Kind: MediaVoice, Path: "00000013-AUDIO-2024-02-28-08-03-10.opus", MIME: "audio/ogg", Present: p13, Size: s13}))},
		{7, from("Élise Martin", "", text("", ""), media(Media{Kind: MediaFile, Path: "00000014-Programme de lecture.pdf", MIME: "application/pdf", Description: "Programme de lecture.pdf • \u200e3 pages", Present: p14, Size: s14}))},
		{8, from("Hugo", "", media(Media{Kind: MediaPhoto, Omitted: true}))},
		{9, from("Hugo", "", media(Media{Kind: MediaVideo, Omitted: true}))},
		{10, from("Élise Martin", "", func(t *testing.T, m *Message) {
			if !m.Deleted {
				t.Error("not deleted")
			}
		})},
		{11, from("Élise Martin", "", text("Rendez-vous jeudi\nà la médiathèque", ""), func(t *testing.T, m *Message) {
			if !m.Edited {
				t.Error("not edited")
			}
		})},
		{14, from("+33 6 12 34 56 78", "+33612345678", text("Je peux venir ?", ""))},
		{15, from("Élise Martin", "", func(t *testing.T, m *Message) {
			want := "Paul Durand||"
			if withMedia {
				want = "Paul Durand|+33698765432|00000015-Paul Durand.vcf"
			}
			if c := m.Contact; c == nil || c.Name+"|"+strings.Join(c.Phones, ",")+"|"+c.VCard != want {
				t.Errorf("contact %+v want %s", c, want)
			}
		})},
		{16, from("Hugo", "", func(t *testing.T, m *Message) {
			if l := m.Location; l == nil || l.Latitude != 48.8566 || l.Longitude != 2.3522 {
				t.Errorf("location %+v", l)
			}
		})},
		{17, service("call", "Élise Martin")},
		{18, from("Hugo", "", media(Media{Kind: MediaSticker, Omitted: true}))},
		{19, service("change_subject", "Élise Martin", func(t *testing.T, s *Service) {
			if s.Subject != "Cercle Lecture 2024" {
				t.Errorf("subject %q", s.Subject)
			}
		})},
		{20, from("Élise Martin", "", media(Media{Kind: MediaAnimation, Path: "00000016-GIF-2024-02-28-08-15-00.mp4", MIME: "video/mp4", Present: p16, Size: s16}))},
		// The video is named in the chat but missing from the zip.
		{21, from("Élise Martin", "", text("Le trailer du film", ""), media(Media{Kind: MediaVideo, Path: "00000017-VIDEO-2024-02-28-08-16-00.mp4", MIME: "video/mp4"}))},
		{23, from("Hugo", "", func(t *testing.T, m *Message) {
			if m.Contact == nil || m.Contact.Name != "" {
				t.Errorf("contact %+v", m.Contact)
			}
		})},
		{24, service("leave", "Hugo")},
	}
}

func TestZips(t *testing.T) {
	t.Run("ios", func(t *testing.T) {
		exp := parseFixture(t, "ios_with_media.zip", Options{})
		if exp.Name != "testdata/ios_with_media.zip/_chat.txt" {
			t.Errorf("name %q", exp.Name)
		}
		runChecks(t, exp, iosChecks(true, time.UTC))
		rc, err := exp.OpenMedia("00000013-AUDIO-2024-02-28-08-03-10.opus")
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		if string(data) != "OggS fake opus" {
			t.Errorf("media content %q", data)
		}
		if _, err := exp.OpenMedia("00000017-VIDEO-2024-02-28-08-16-00.mp4"); err == nil {
			t.Error("opened a file missing from the zip")
		}
		if _, err := exp.OpenMedia("../_chat.txt"); err == nil {
			t.Error("opened a path outside the export")
		}
	})
	t.Run("android", func(t *testing.T) {
		exp := parseFixture(t, "WhatsApp Chat - Family Lopez.zip", Options{})
		if exp.ChatName != "Family Lopez" || !strings.HasSuffix(exp.Name, "/WhatsApp Chat with Family Lopez.txt") {
			t.Errorf("chat %q name %q", exp.ChatName, exp.Name)
		}
		runChecks(t, exp, androidChecks(true))
	})
}

func TestTextWithMediaFolder(t *testing.T) {
	// A .txt next to its media (an unpacked zip) finds them.
	dir := t.TempDir()
	if err := unzip("testdata/ios_with_media.zip", dir); err != nil {
		t.Fatal(err)
	}
	// An unpacked .zip also holds a .txt document sent in another chat.
	if err := os.WriteFile(dir+"/notes.txt", []byte("not a chat\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{dir + "/_chat.txt", dir} {
		exp, err := ParseFile(p, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer exp.Close()
		if exp.ChatName != "Cercle Lecture" {
			t.Errorf("chat name %q", exp.ChatName)
		}
		runChecks(t, exp, iosChecks(true, time.UTC))
	}
	exp, err := ParseFile(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer exp.Close()
	rc, err := exp.OpenMedia("00000016-GIF-2024-02-28-08-15-00.mp4")
	if err != nil {
		t.Fatal(err)
	}
	rc.Close()
}

func TestDateFormats(t *testing.T) {
	tests := []struct {
		file    string
		opts    Options
		order   DateOrder
		times   []time.Time
		senders []string
	}{
		{"ios_us_12h.txt", Options{}, MonthDayYear, []time.Time{
			time.Date(2023, 12, 31, 21, 41, 5, 0, time.UTC), time.Date(2023, 12, 31, 23, 59, 59, 0, time.UTC),
			time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 12, 0, 30, 0, time.UTC)},
			[]string{"Sam Carter", "Dana Kim", "Sam Carter", "Dana Kim"}},
		{"android_dotted.txt", Options{}, DayMonthYear, []time.Time{
			time.Date(2023, 12, 31, 21, 41, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 1, 1, 0, 1, 0, 0, time.UTC)},
			[]string{"Jonas Weber", "Lena Fischer", "Lena Fischer"}},
		{"ambiguous.txt", Options{}, DayMonthYear, []time.Time{
			time.Date(2024, 1, 5, 10, 0, 0, 0, time.UTC), time.Date(2024, 1, 10, 10, 0, 0, 0, time.UTC), time.Date(2024, 2, 2, 10, 0, 0, 0, time.UTC)},
			[]string{"Ann", "Ben", "Ann"}},
		{"ambiguous.txt", Options{DateOrder: MonthDayYear}, MonthDayYear, []time.Time{
			time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC), time.Date(2024, 10, 1, 10, 0, 0, 0, time.UTC), time.Date(2024, 2, 2, 10, 0, 0, 0, time.UTC)},
			[]string{"Ann", "Ben", "Ann"}},
		{"ymd.txt", Options{}, YearMonthDay, []time.Time{
			time.Date(2024, 3, 5, 14, 2, 0, 0, time.UTC), time.Date(2024, 3, 5, 14, 3, 0, 0, time.UTC)},
			[]string{"Sven Berg", "Karin Holm"}},
		{"crlf_bom.txt", Options{}, DayMonthYear, []time.Time{
			time.Date(2024, 1, 5, 7, 0, 0, 0, time.UTC), time.Date(2024, 1, 5, 7, 1, 0, 0, time.UTC)},
			[]string{"Ann", "Ben"}},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.opts.DateOrder.String(), func(t *testing.T) {
			exp := parseFixture(t, tc.file, tc.opts)
			if exp.DateOrder != tc.order {
				t.Errorf("order %s (%s), want %s", exp.DateOrder, exp.DateOrderReason, tc.order)
			}
			if len(exp.Messages) != len(tc.times) {
				t.Fatalf("%d messages", len(exp.Messages))
			}
			for i, m := range exp.Messages {
				if !m.Time.Equal(tc.times[i]) || m.Sender.Name != tc.senders[i] {
					t.Errorf("message %d: %v %q, want %v %q", i, m.Time, m.Sender.Name, tc.times[i], tc.senders[i])
				}
			}
		})
	}
	exp := parseFixture(t, "crlf_bom.txt", Options{})
	if got := exp.Messages[0].Text.Plain; got != "windows line\nsecond line" {
		t.Errorf("CRLF text %q", got)
	}
}

func TestKeysStableAcrossReexport(t *testing.T) {
	full := parseFixture(t, "android_us.txt", Options{})
	// A later export that starts further in (WhatsApp caps export length)
	// and has one more message keeps the keys of the shared messages.
	data := "12/31/23, 9:44\u202fPM - Grandma: IMG-20231231-WA0001.jpg (file attached)\nMe in 1975 😄\n" +
		"12/31/23, 9:45\u202fPM - Grandma: <Media omitted>\n" +
		"1/2/24, 9:00\u202fAM - Grandma: New one\n"
	later, err := Parse(strings.NewReader(data), Options{DateOrder: MonthDayYear, Location: time.FixedZone("X", 3600)})
	if err != nil {
		t.Fatal(err)
	}
	fullKeys := map[string]bool{}
	for _, m := range full.Messages {
		fullKeys[m.Key] = true
	}
	if !fullKeys[later.Messages[0].Key] || !fullKeys[later.Messages[1].Key] || fullKeys[later.Messages[2].Key] {
		t.Errorf("keys %s %s %s not stable", later.Messages[0].Key, later.Messages[1].Key, later.Messages[2].Key)
	}
	// Identical repeats get distinct keys.
	rep, err := Parse(strings.NewReader("1/2/24, 9:00 - A: hi\n1/2/24, 9:00 - A: hi\n"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Messages[0].Key == rep.Messages[1].Key || !strings.HasSuffix(rep.Messages[1].Key, "#1") {
		t.Errorf("repeat keys %s %s", rep.Messages[0].Key, rep.Messages[1].Key)
	}
}

// Exports made in French: English-only patterns would leave these as text.
func TestAndroidFrench(t *testing.T) {
	exp := parseFixture(t, "android_fr.txt", Options{})
	if exp.DateOrder != DayMonthYear {
		t.Errorf("order %s", exp.DateOrder)
	}
	runChecks(t, exp, []lineCheck{
		{1, service("encryption_notice", "")},
		{2, from("Chloé Bernard", "", text("Bonjour à tous, la réunion est à *10h*", "Bonjour à tous, la réunion est à <strong>10h</strong>"), func(t *testing.T, m *Message) {
			if !m.Time.Equal(time.Date(2024, 3, 2, 9, 1, 0, 0, time.UTC)) {
				t.Errorf("time %v", m.Time)
			}
		})},
		{3, from("Chloé Bernard", "", media(Media{Omitted: true}))},
		{4, from("+33 7 12 34 56 78", "+33712345678", text("Le plan du bâtiment", ""), media(Media{Kind: MediaPhoto, Path: "IMG-20240302-WA0004.jpg", MIME: "image/jpeg"}))},
		{6, from("Chloé Bernard", "", func(t *testing.T, m *Message) {
			if !m.Deleted {
				t.Error("not deleted")
			}
		})},
		{7, from("Chloé Bernard", "", text("Salle B12", ""), func(t *testing.T, m *Message) {
			if !m.Edited {
				t.Error("not edited")
			}
		})},
		// French system lines are not recognised yet: kept verbatim.
		{8, service("other", "", func(t *testing.T, s *Service) {
			if s.Text != "Chloé Bernard a ajouté Marc" {
				t.Errorf("text %q", s.Text)
			}
		})},
	})
}

func TestDaylightSaving(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	in := "31/03/2024, 01:59 - Ann: before\n31/03/2024, 02:30 - Ann: in the gap\n27/10/2024, 02:30 - Ann: twice\n"
	exp, err := Parse(strings.NewReader(in), Options{Location: paris})
	if err != nil {
		t.Fatal(err)
	}
	want := []time.Time{
		time.Date(2024, 3, 31, 0, 59, 0, 0, time.UTC),
		time.Date(2024, 3, 31, 1, 30, 0, 0, time.UTC),
		time.Date(2024, 10, 27, 0, 30, 0, 0, time.UTC),
	}
	for i, m := range exp.Messages {
		if !m.Time.Equal(want[i]) {
			t.Errorf("message %d at %v, want %v", i, m.Time.UTC(), want[i])
		}
	}
	utc, err := Parse(strings.NewReader(in), Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range utc.Messages {
		if utc.Messages[i].Key != exp.Messages[i].Key {
			t.Errorf("key depends on the zone: %s vs %s", utc.Messages[i].Key, exp.Messages[i].Key)
		}
	}
}
