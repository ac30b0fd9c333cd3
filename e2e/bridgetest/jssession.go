package bridgetest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// JSSession is a running independent client (e2e/jsclient/session.mjs: matrix-js-sdk with its
// Rust crypto) that stays logged in and synced between requests, so a test can check that what
// the bridge sends into an encrypted room — a remote message in a portal, a bot answer —
// decrypts in a client that shares no code with the bridge.
type JSSession struct {
	UserID   id.UserID
	DeviceID id.DeviceID

	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *lockedBuffer
	done   chan struct{}

	mu     sync.Mutex
	nextID int
}

// JSWait selects the message WaitForMessage waits for; empty fields match anything.
type JSWait struct {
	Sender   id.UserID
	Contains string
	// After is an event ID: only later messages count.
	After id.EventID
	// Timeout defaults to 45 s.
	Timeout time.Duration
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) tail(n int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return tail(b.buf.Bytes(), n)
}

// StartJSSession logs the user in from Node (a new device with its own keys), starts syncing and
// returns once the client is ready. The process is stopped when the test ends.
func StartJSSession(t testing.TB, hs *hstest.Homeserver, localpart, password string) *JSSession {
	t.Helper()
	dir := EnsureJSClient(t)
	s := &JSSession{lines: make(chan []byte, 16), stderr: &lockedBuffer{}, done: make(chan struct{})}
	s.cmd = exec.Command("node", "session.mjs", "--homeserver", hs.URL, "--user", localpart, "--password", password)
	s.cmd.Dir = dir
	s.cmd.Stderr = s.stderr
	hstest.BindToParent(s.cmd)
	stdout, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("bridgetest: JS session stdout: %v", err)
	}
	if s.stdin, err = s.cmd.StdinPipe(); err != nil {
		t.Fatalf("bridgetest: JS session stdin: %v", err)
	}
	if err = s.cmd.Start(); err != nil {
		t.Fatalf("bridgetest: start JS session: %v", err)
	}
	go func() {
		defer close(s.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64*1024), 16<<20)
		for sc.Scan() {
			s.lines <- bytes.Clone(sc.Bytes())
		}
	}()
	go func() {
		_ = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		_, _ = s.stdin.Write([]byte(`{"cmd":"quit"}` + "\n"))
		_ = s.stdin.Close()
		select {
		case <-s.done:
		case <-time.After(5 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.done
		}
	})

	var ready struct {
		Event    string      `json:"event"`
		UserID   id.UserID   `json:"user_id"`
		DeviceID id.DeviceID `json:"device_id"`
		Error    string      `json:"error"`
	}
	if err = s.readLine(60*time.Second, &ready); err != nil {
		t.Fatalf("bridgetest: JS session for %s did not start: %v\nstderr:\n%s", localpart, err, s.stderr.tail(40))
	}
	if ready.Event != "ready" {
		t.Fatalf("bridgetest: JS session for %s: %s %s\nstderr:\n%s", localpart, ready.Event, ready.Error, s.stderr.tail(40))
	}
	s.UserID, s.DeviceID = ready.UserID, ready.DeviceID
	return s
}

func (s *JSSession) readLine(timeout time.Duration, out any) error {
	select {
	case line, ok := <-s.lines:
		if !ok {
			return fmt.Errorf("the client exited")
		}
		if err := json.Unmarshal(line, out); err != nil {
			return fmt.Errorf("decode %q: %w", line, err)
		}
		return nil
	case <-time.After(timeout):
		return fmt.Errorf("no answer within %s", timeout)
	}
}

// Do sends one request (see session.mjs for the commands) and decodes the reply into out. It
// fails the test when the client reports an error.
func (s *JSSession) Do(t testing.TB, req map[string]any, timeout time.Duration, out any) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextID++
	req["id"] = s.nextID
	raw, err := json.Marshal(req)
	if err != nil {
		t.Fatalf("bridgetest: encode JS request: %v", err)
	}
	if _, err = s.stdin.Write(append(raw, '\n')); err != nil {
		t.Fatalf("bridgetest: send JS request %s: %v\nstderr:\n%s", raw, err, s.stderr.tail(40))
	}
	var reply json.RawMessage
	if err = s.readLine(timeout+10*time.Second, &reply); err != nil {
		t.Fatalf("bridgetest: JS request %s: %v\nstderr:\n%s", raw, err, s.stderr.tail(40))
	}
	var status struct {
		ID    int             `json:"id"`
		OK    bool            `json:"ok"`
		Error string          `json:"error"`
		Seen  json.RawMessage `json:"seen"`
	}
	if err = json.Unmarshal(reply, &status); err != nil {
		t.Fatalf("bridgetest: JS reply %s: %v", reply, err)
	}
	if status.ID != s.nextID {
		t.Fatalf("bridgetest: JS reply %s answers request %d, want %d", reply, status.ID, s.nextID)
	}
	if !status.OK {
		t.Fatalf("bridgetest: JS request %s failed: %s (messages seen: %s)\nstderr:\n%s", raw, status.Error, status.Seen, s.stderr.tail(40))
	}
	if out != nil {
		if err = json.Unmarshal(reply, out); err != nil {
			t.Fatalf("bridgetest: decode JS reply %s: %v", reply, err)
		}
	}
}

// CreateDM creates a direct chat inviting user, encrypted (megolm in the initial state) or not.
func (s *JSSession) CreateDM(t testing.TB, user id.UserID, encrypted bool) id.RoomID {
	t.Helper()
	var out struct {
		RoomID id.RoomID `json:"room_id"`
	}
	s.Do(t, map[string]any{"cmd": "create_dm", "user": user, "encrypted": encrypted}, 30*time.Second, &out)
	return out.RoomID
}

// Join joins a room the user was invited to (a portal, say).
func (s *JSSession) Join(t testing.TB, room id.RoomID) {
	t.Helper()
	s.Do(t, map[string]any{"cmd": "join", "room": room, "timeout_ms": 30000}, 30*time.Second, nil)
}

// WaitJoined waits until user is joined to room as this client sees it.
func (s *JSSession) WaitJoined(t testing.TB, room id.RoomID, user id.UserID) {
	t.Helper()
	s.Do(t, map[string]any{"cmd": "wait_joined", "room": room, "user": user, "timeout_ms": 30000}, 30*time.Second, nil)
}

// Send sends a text message (encrypted when the room is) and returns its event ID and the type
// the homeserver stored (m.room.encrypted in an encrypted room).
func (s *JSSession) Send(t testing.TB, room id.RoomID, text string) (id.EventID, string) {
	t.Helper()
	var out struct {
		EventID  id.EventID `json:"event_id"`
		WireType string     `json:"wire_type"`
	}
	s.Do(t, map[string]any{"cmd": "send", "room": room, "text": text}, 30*time.Second, &out)
	return out.EventID, out.WireType
}

// WaitForMessage waits for an m.room.message (decrypted if it came encrypted) matching w and
// returns it; Decrypted tells whether it arrived encrypted and was decrypted.
func (s *JSSession) WaitForMessage(t testing.TB, room id.RoomID, w JSWait) JSReply {
	t.Helper()
	if w.Timeout == 0 {
		w.Timeout = ReplyTimeout
	}
	var out struct {
		Message JSReply `json:"message"`
	}
	s.Do(t, map[string]any{
		"cmd": "wait_message", "room": room, "sender": w.Sender, "contains": w.Contains,
		"after": w.After, "timeout_ms": w.Timeout.Milliseconds(),
	}, w.Timeout, &out)
	return out.Message
}
