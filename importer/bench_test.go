package importer

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/portal"
)

// BenchmarkImport imports a Telegram export of IMPORT_BENCH_MESSAGES (default 100,000) text
// messages from 50 senders into one room of a real Dendrite through the bridge, and reports
// messages per second beside the homeserver's own ceiling measured in the same run: a plain
// appservice (no bridge, no database) sending IMPORT_BENCH_CEILING (default: as many) messages
// from 50 senders into one room with massaged timestamps and transaction IDs, one after the
// other as fast as the homeserver answers, which is how the importer must send into one room
// to keep the order. Half the ceiling's messages go before the import and half after it, so
// that both sides of the comparison see the same load on a shared machine (the import's rate
// followed the load in the first 100,000-message run: 44 to 178 msgs/s from one minute to the
// next). The ratio is import / ceiling. IMPORT_BENCH_HS_TMP (e.g. /dev/shm) is where
// Dendrite's data directory goes. Progress goes to stderr as it happens (a 100,000-message run
// takes long and b.Logf only shows at the end), with the results, which b.Logf repeats.
//
//	IMPORT_BENCH_HS_TMP=/dev/shm IMPORT_BENCH_MESSAGES=100000 go test -tags goolm ./importer -run '^$' -bench Import -benchtime 1x -timeout 4h
func BenchmarkImport(b *testing.B) {
	n := envCount(b, "IMPORT_BENCH_MESSAGES", 100_000)
	ceilingN := envCount(b, "IMPORT_BENCH_CEILING", n)
	engine := os.Getenv("IMPORT_BENCH_DB")
	if engine == "" {
		engine = "postgres"
	}
	const senders = 50
	// IMPORT_BENCH_HS_TMP (e.g. /dev/shm) holds Dendrite's data directory: on a tmpfs its
	// SQLite and JetStream commits cost no disk sync, so the ceiling is Dendrite's own work.
	hsTmp := os.Getenv("IMPORT_BENCH_HS_TMP")
	h := newHarness(b, engine, func(o *hstest.Options) { o.TempRoot = hsTmp })
	msgs := make([]map[string]any, n)
	for i := range msgs {
		sender := int64(1000 + i%senders)
		msgs[i] = tgMsg(i+1, 1500000000+int64(i), sender, fmt.Sprint("Sender ", sender), fmt.Sprint("Message number ", i+1), nil)
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	say("BenchmarkImport: %d messages, ceiling on %d, homeserver data in %s", n, ceilingN, h.hs.Dir)
	// Every appservice request of the test process goes through this client (the ceiling's and
	// the bridge's): the time of the message sends inside it is the homeserver's share.
	sends := &sendTimer{next: h.mc.AS.HTTPClient.Transport}
	if sends.next == nil {
		sends.next = http.DefaultTransport
	}
	h.mc.AS.HTTPClient.Transport = sends
	b.ResetTimer()
	var total, ceiling time.Duration
	for i := 0; i < b.N; i++ {
		// A chat of its own per iteration: the import of a chat already imported skips it all.
		b.StopTimer()
		dir := writeTG(b, "Benchmark", "private_supergroup", int64(99999+i), msgs, nil)
		b.StartTimer()
		cr, err := newCeilingRoom(h, senders, i)
		if err != nil {
			b.Fatal(err)
		}
		before := ceilingN / 2
		c0, t0 := sends.total()
		d, err := cr.send(0, before, say)
		if err != nil {
			b.Fatal(err)
		}
		ceiling += d
		say("homeserver ceiling before the import: %d messages in %s, %.1f msgs/s", before, d.Round(time.Millisecond), float64(before)/d.Seconds())

		_, u := h.newUser("bench")
		c1, t1 := sends.total()
		start := time.Now()
		var lastLog, steadyFrom time.Time
		steadyDone := 0
		progress := func(p Progress) {
			// Steady state: once every sender has written (and joined the room).
			if steadyFrom.IsZero() && p.Done >= senders {
				steadyFrom, steadyDone = time.Now(), p.Done
			}
			if time.Since(lastLog) > time.Minute {
				lastLog = time.Now()
				say("import: %d/%d messages, %.1f msgs/s so far", p.Done, p.Total, float64(p.Done)*1000/float64(max(p.ElapsedMS, 1)))
			}
		}
		sum, err := h.im.Run(context.Background(), &Request{User: u, Network: portal.Telegram, Path: dir, FileName: "result.json", Progress: progress})
		total += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		if !steadyFrom.IsZero() && n > steadyDone {
			line := fmt.Sprintf("import: %d messages in %s, %.1f msgs/s; %.1f msgs/s after the first %d (room created, every sender joined)",
				n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds(),
				float64(n-steadyDone)/time.Since(steadyFrom).Seconds(), steadyDone)
			say("%s", line)
			b.Log(line)
		}
		c2, t2 := sends.total()
		say("%s", sendShare(b, "import", c2-c1, t2-t1, time.Since(start)))
		if sum.Imported != n || sum.Failed != 0 {
			b.Fatalf("imported %d of %d, %d failed: %+v", sum.Imported, n, sum.Failed, sum.Failures)
		}
		d2, err := cr.send(before, ceilingN, say)
		if err != nil {
			b.Fatal(err)
		}
		ceiling += d2
		line := fmt.Sprintf("homeserver ceiling: %d messages in %s, %.1f msgs/s (%.1f before the import, %.1f after)",
			ceilingN, (d + d2).Round(time.Millisecond), float64(ceilingN)/(d+d2).Seconds(),
			float64(before)/d.Seconds(), float64(ceilingN-before)/d2.Seconds())
		say("%s", line)
		b.Log(line)
		c3, t3 := sends.total()
		say("%s", sendShare(b, "homeserver ceiling", c1-c0+c3-c2, t1-t0+t3-t2, d+d2))
	}
	importRate := float64(n*b.N) / total.Seconds()
	ceilingRate := float64(ceilingN*b.N) / ceiling.Seconds()
	b.ReportMetric(importRate, "msgs/s")
	b.ReportMetric(ceilingRate, "hs_msgs/s")
	b.ReportMetric(importRate/ceilingRate, "import/hs")
}

func envCount(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		b.Fatalf("%s=%q: want a positive number", name, s)
	}
	return n
}

// ceilingRoom is the homeserver alone: the bridge's appservice registration used by plain
// mautrix clients, no bridgev2, no state store, no database, sending as the senders' ghosts
// into a room that the importer set up (a chat with one message from each sender), untimed.
// send then sends messages one after the other, each sender in turn, with a timestamp and
// transaction ID as the importer sends them.
//
// The room must be set up like the import's. Dendrite v0.13.8 keeps a room's state as up to 64
// deltas from its last full snapshot and reads them all for every event it accepts. A room
// whose 50 senders were invited and joined one after the other (the first version of this
// ceiling) had 43 deltas, the import's room 1 (read from Dendrite's roomserver database; most
// likely the importer's four senders readied at a time make state changes with several
// predecessors, which Dendrite resolves into a full snapshot), and Dendrite took half as long
// again per message there: that "ceiling" was below the import (import / ceiling 1.2 to 2.0),
// and a CPU profile of Dendrite showed the difference in reading state blocks
// (BulkSelectStateEventByNID).
type ceilingRoom struct {
	ctx     context.Context
	room    id.RoomID
	intents []*appservice.IntentAPI
}

func newCeilingRoom(h *harness, senders, iteration int) (*ceilingRoom, error) {
	msgs := make([]map[string]any, senders)
	for i := range msgs {
		sender := int64(1000 + i)
		msgs[i] = tgMsg(i+1, 1400000000+int64(i), sender, fmt.Sprint("Sender ", sender), "Ceiling set-up", nil)
	}
	dir := writeTG(h.t, "Homeserver ceiling", "private_supergroup", int64(88888+iteration), msgs, nil)
	_, u := h.newUser("ceiling")
	sum, err := h.im.Run(h.ctx, &Request{User: u, Network: portal.Telegram, Path: dir, FileName: "result.json"})
	if err != nil {
		return nil, fmt.Errorf("ceiling room: %w", err)
	}
	if sum.Imported != senders || len(sum.Rooms) != 1 {
		return nil, fmt.Errorf("ceiling room: imported %d of %d into %d rooms", sum.Imported, senders, len(sum.Rooms))
	}
	intents := make([]*appservice.IntentAPI, senders)
	for i := range intents {
		intents[i] = h.mc.AS.Intent(ghostMXID(portal.TGUserID(portal.TGPeer{Kind: portal.TGUser, ID: int64(1000 + i)})))
	}
	return &ceilingRoom{ctx: h.ctx, room: sum.Rooms[0].RoomID, intents: intents}, nil
}

// sendShare says, and logs, how a part's time divides per message send between the homeserver's
// request and everything else (for the import: the importer, bridgev2 and their database, and
// the set-up of the room and senders).
func sendShare(b *testing.B, part string, count int, inRequests, total time.Duration) string {
	if count == 0 {
		return part + ": no message sends"
	}
	line := fmt.Sprintf("%s: %d message sends, %.2f ms each in the homeserver's request, %.2f ms each elsewhere",
		part, count, float64(inRequests.Microseconds())/1000/float64(count), float64((total-inRequests).Microseconds())/1000/float64(count))
	b.Log(line)
	return line
}

// sendTimer counts the message sends (PUT …/send/…) that go through it and the time from each
// request to its response headers, which Dendrite sends once it has stored the event.
type sendTimer struct {
	next  http.RoundTripper
	mu    sync.Mutex
	count int
	took  time.Duration
}

func (s *sendTimer) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPut || !strings.Contains(req.URL.Path, "/send/") {
		return s.next.RoundTrip(req)
	}
	start := time.Now()
	resp, err := s.next.RoundTrip(req)
	s.mu.Lock()
	s.count++
	s.took += time.Since(start)
	s.mu.Unlock()
	return resp, err
}

func (s *sendTimer) total() (int, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count, s.took
}

// send sends messages from (included) to to (excluded) and returns the time they took, saying
// how far it got every minute.
func (c *ceilingRoom) send(from, to int, say func(string, ...any)) (time.Duration, error) {
	base := time.Date(2017, 7, 14, 2, 40, 0, 0, time.UTC)
	start := time.Now()
	lastLog := start
	for i := from; i < to; i++ {
		if time.Since(lastLog) > time.Minute {
			lastLog = time.Now()
			say("ceiling: %d/%d messages, %.1f msgs/s so far", i-from, to-from, float64(i-from)/time.Since(start).Seconds())
		}
		content := &event.MessageEventContent{MsgType: event.MsgText, Body: fmt.Sprint("Message number ", i+1)}
		if _, err := c.intents[i%len(c.intents)].Client.SendMessageEvent(c.ctx, c.room, event.EventMessage, content, mautrix.ReqSendEvent{
			Timestamp:     base.Add(time.Duration(i) * time.Second).UnixMilli(),
			TransactionID: fmt.Sprintf("ceiling-%s-%d", c.room, i),
		}); err != nil {
			return 0, fmt.Errorf("ceiling message %d: %w", i, err)
		}
	}
	return time.Since(start), nil
}
