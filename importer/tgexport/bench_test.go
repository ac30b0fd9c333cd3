package tgexport

import (
	"bytes"
	"fmt"
	"testing"
)

// genExport writes a single-chat export of n messages mixing plain text,
// formatted text, replies, photos and service events.
func genExport(n int) []byte {
	var b bytes.Buffer
	b.WriteString("{\n \"name\": \"Bench\",\n \"type\": \"private_group\",\n \"id\": 4242,\n \"messages\": [\n")
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteString(",\n")
		}
		ts := 1700000000 + i*7
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, `  {"id": %d, "type": "message", "date": "2023-11-14T22:13:20", "date_unixtime": "%d", "from": "Alice", "from_id": "user1", "photo": "photos/photo_%d@14-11-2023_22-13-20.jpg", "photo_file_size": 52344, "width": 1280, "height": 720, "text": "caption %d", "text_entities": [{"type": "plain", "text": "caption %d"}]}`, i, ts, i, i, i)
		case 1:
			fmt.Fprintf(&b, `  {"id": %d, "type": "message", "date": "2023-11-14T22:13:20", "date_unixtime": "%d", "from": "Bob", "from_id": "user2", "reply_to_message_id": %d, "text": ["see ", {"type": "bold", "text": "this"}, " at ", {"type": "text_link", "text": "link", "href": "https://example.org/%d"}], "text_entities": [{"type": "plain", "text": "see "}, {"type": "bold", "text": "this"}, {"type": "plain", "text": " at "}, {"type": "text_link", "text": "link", "href": "https://example.org/%d"}]}`, i, ts, i-1, i, i)
		case 2:
			fmt.Fprintf(&b, `  {"id": %d, "type": "service", "date": "2023-11-14T22:13:20", "date_unixtime": "%d", "actor": "Alice", "actor_id": "user1", "action": "pin_message", "message_id": %d, "text": "", "text_entities": []}`, i, ts, i-2)
		default:
			fmt.Fprintf(&b, `  {"id": %d, "type": "message", "date": "2023-11-14T22:13:20", "date_unixtime": "%d", "edited": "2023-11-14T22:15:00", "edited_unixtime": "%d", "from": "Alice", "from_id": "user1", "text": "message number %d with some ordinary words in it", "text_entities": [{"type": "plain", "text": "message number %d with some ordinary words in it"}]}`, i, ts, ts+100, i, i)
		}
	}
	b.WriteString("\n ]\n}\n")
	return b.Bytes()
}

func BenchmarkParse100k(b *testing.B) {
	const n = 100_000
	data := genExport(n)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	msgs := 0
	for b.Loop() {
		count := 0
		for _, err := range NewReader(bytes.NewReader(data), Options{}).All() {
			if err != nil {
				b.Fatal(err)
			}
			count++
		}
		if count != n {
			b.Fatalf("parsed %d messages, want %d", count, n)
		}
		msgs += count
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}
