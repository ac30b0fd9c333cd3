package waexport

import (
	"bytes"
	"fmt"
	"testing"
)

// genExport writes an Android-style export of n messages mixing plain,
// formatted, multi-line, media and system lines over several years.
func genExport(n int) []byte {
	var b bytes.Buffer
	b.Grow(n * 70)
	for i := 0; i < n; i++ {
		day := i / 200
		month, dom, year := day/28%12+1, day%28+1, 20+day/336
		h, m := i/60%12+1, i%60
		ampm := "AM"
		if i%2 == 1 {
			ampm = "PM"
		}
		fmt.Fprintf(&b, "%d/%d/%02d, %d:%02d\u202f%s - ", month, dom, year, h, m, ampm)
		switch i % 10 {
		case 0:
			fmt.Fprintf(&b, "Maria Lopez: IMG-%04d-WA%04d.jpg (file attached)\ncaption %d\n", i, i%10000, i)
		case 1:
			fmt.Fprintf(&b, "\u202a+1 (415) 555-0134\u202c: *bold* and _italic_ number %d\n", i)
		case 2:
			fmt.Fprintf(&b, "Jake Lopez: first line %d\nsecond line\n- item\n- item two\n", i)
		case 3:
			b.WriteString("Maria Lopez added Jake Lopez\n")
		case 4:
			b.WriteString("Jake Lopez: <Media omitted>\n")
		default:
			fmt.Fprintf(&b, "Maria Lopez: an ordinary message with some words in it, number %d\n", i)
		}
	}
	return b.Bytes()
}

func BenchmarkParse100k(b *testing.B) {
	const n = 100_000
	data := genExport(n)
	b.SetBytes(int64(len(data)))
	msgs := 0
	for b.Loop() {
		exp, err := Parse(bytes.NewReader(data), Options{})
		if err != nil {
			b.Fatal(err)
		}
		if len(exp.Messages) != n {
			b.Fatalf("parsed %d messages, want %d", len(exp.Messages), n)
		}
		msgs += len(exp.Messages)
	}
	b.ReportMetric(float64(msgs)/b.Elapsed().Seconds(), "msgs/s")
}
