package waexport

import "testing"

func TestFormatHTML(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", ""},
		{"a < b & c", ""},
		{"*bold*", "<strong>bold</strong>"},
		{"_italic_ and ~gone~", "<em>italic</em> and <del>gone</del>"},
		{"*_both_*", "<strong><em>both</em></strong>"},
		{"snake_case_name and 2*3*4", ""},
		{"* not bold*", "<ul><li>not bold*</li></ul>"},
		{"*not bold *", ""},
		{"**", ""},
		{"x *<b>* y", "x <strong>&lt;b&gt;</strong> y"},
		{"`code *x*`", "<code>code *x*</code>"},
		{"```mono _x_```", "<code>mono _x_</code>"},
		{"```\nline1\n  *line2*\n```", "<pre><code>line1\n  *line2*\n</code></pre>"},
		{"```go\nx\n``` after", "<pre><code>go\nx\n</code></pre> after"},
		{"before\n```\nunclosed", ""},
		{"> quoted *text*\n> more\nreply", "<blockquote>quoted <strong>text</strong><br>more</blockquote>reply"},
		{"list:\n- one\n- _two_\n1. first\n2. second", "list:<ul><li>one</li><li><em>two</em></li></ul><ol><li>first</li><li>second</li></ol>"},
		{"*multi\nline*", ""},
		{"line *one*\nline two", "line <strong>one</strong><br>line two"},
		{"(*paren*)", "(<strong>paren</strong>)"},
		{"*a* *b*", "<strong>a</strong> <strong>b</strong>"},
		{"émoji *été* ok", "émoji <strong>été</strong> ok"},
		{"don't 'quote' \"me\"", ""},
		{"*it's*", "<strong>it&#39;s</strong>"},
		{"see https://example.org/_a_/~b~ and *c*", "see https://example.org/_a_/~b~ and <strong>c</strong>"},
		{"www.example.org/*x*", ""},
		{"_shttps://x.org/_", "<em>shttps://x.org/</em>"},
	}
	for _, tc := range tests {
		if got := FormatHTML(tc.in); got != tc.want {
			t.Errorf("FormatHTML(%q)\n got %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+33 6 12 34 56 78", "+33612345678"},
		{"\u202a+1 (415) 555-0134\u202c", "+14155550134"},
		{"+44\u00a07700\u00a0900123", "+447700900123"},
		{"+49-151-2345-6789", "+4915123456789"},
		{"0612345678", ""},
		{"+33 6 12", ""},
		{"Alice", ""},
		{"+1 555 CALL NOW", ""},
		{"+0 123 456 789", ""},
	}
	for _, tc := range tests {
		if got := NormalizePhone(tc.in); got != tc.want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestMediaKind(t *testing.T) {
	tests := []struct {
		name string
		kind MediaKind
		mime string
	}{
		{"IMG-20231231-WA0001.jpg", MediaPhoto, "image/jpeg"},
		{"VID-20231231-WA0002.mp4", MediaVideo, "video/mp4"},
		{"PTT-20231231-WA0003.opus", MediaVoice, "audio/ogg"},
		{"AUD-20231231-WA0004.mp3", MediaAudio, "audio/mpeg"},
		{"STK-20231231-WA0005.webp", MediaSticker, "image/webp"},
		{"DOC-20231231-WA0006.pdf", MediaFile, "application/pdf"},
		{"00000012-PHOTO-2023-12-31-21-41-05.jpg", MediaPhoto, "image/jpeg"},
		{"00000013-AUDIO-2023-12-31-21-41-05.opus", MediaVoice, "audio/ogg"},
		{"00000014-GIF-2023-12-31-21-41-05.mp4", MediaAnimation, "video/mp4"},
		{"00000015-STICKER-2023-12-31-21-41-05.webp", MediaSticker, "image/webp"},
		{"00000016-VIDEO-2023-12-31-21-41-05.mp4", MediaVideo, "video/mp4"},
		{"holiday.HEIC", MediaPhoto, "image/heic"},
		{"song.m4a", MediaAudio, "audio/mp4"},
		{"archive.7z", MediaFile, "application/octet-stream"},
	}
	for _, tc := range tests {
		if k, m := mediaKind(tc.name), MIMEType(tc.name); k != tc.kind || m != tc.mime {
			t.Errorf("%s: %s %s, want %s %s", tc.name, k, m, tc.kind, tc.mime)
		}
	}
}
