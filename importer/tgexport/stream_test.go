package tgexport

import (
	"fmt"
	"io"
	"testing"
)

// endlessExport produces a chat export whose messages never end, counting
// the bytes it hands out.
type endlessExport struct {
	buf  []byte
	next int
	read int64
	// ends[i] is the offset just after message i.
	ends []int64
	size int64
}

func (e *endlessExport) Read(p []byte) (int, error) {
	if len(e.buf) == 0 {
		if e.next == 0 {
			e.buf = []byte(`{"name":"Endless","type":"private_group","id":9,"messages":[`)
		} else {
			sep := ","
			if e.next == 1 {
				sep = ""
			}
			e.buf = fmt.Appendf(nil, `%s{"id":%d,"type":"message","date_unixtime":"%d","from":"A","from_id":"user1","text":"message %d with some padding to make it longer"}`,
				sep, e.next, 1700000000+e.next, e.next)
		}
		e.size += int64(len(e.buf))
		e.ends = append(e.ends, e.size)
		e.next++
	}
	n := copy(p, e.buf)
	e.buf = e.buf[n:]
	e.read += int64(n)
	return n, nil
}

// TestStreams shows that messages come out while the file is still being
// read: a reader that never ends still yields messages, and reading stops
// a bounded distance ahead of the consumer.
func TestStreams(t *testing.T) {
	src := &endlessExport{}
	r := NewReader(src, Options{})
	defer r.Close()
	for i := 1; i <= 50_000; i++ {
		m, err := r.Next()
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != int64(i) {
			t.Fatalf("message %d has id %d", i, m.ID)
		}
		if i == 1 || i == 50_000 {
			// At most the 64 KiB read buffer plus the decoder's buffer
			// are ahead of the consumer.
			ahead := src.read - src.ends[i]
			if off := r.Offset(); off < src.ends[i-1] || off > src.read {
				t.Errorf("Offset() = %d, want between %d and %d", off, src.ends[i-1], src.read)
			}
			if ahead > 256<<10 {
				t.Fatalf("after %d messages the reader has read %d bytes: it is not streaming", i, src.read)
			}
		}
	}
	if src.read < 5<<20 {
		t.Fatalf("only %d bytes read for 50000 messages", src.read)
	}
}

var _ io.Reader = (*endlessExport)(nil)
