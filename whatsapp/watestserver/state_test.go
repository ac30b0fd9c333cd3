package watestserver

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
)

// TestStateSurvivesRestart: with a state file, a restarted server keeps its root key and CA, and
// saved devices log in again, get what was queued for them and keep their groups.
func TestStateSurvivesRestart(t *testing.T) {
	ctx := testContext(t)
	path := filepath.Join(t.TempDir(), "state.json")
	log := testLogger()
	first, err := Start(Options{StateFile: path, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	restore := first.TrustRoot()
	defer restore()
	alice := pairedClient(t, first, "Alice", "33611111111")
	bob := pairedClient(t, first, "Bob", "33622222222")
	bobDevice := bob.cli.Store.GetJID()
	info, err := alice.cli.CreateGroup(ctx, whatsmeow.ReqCreateGroup{Name: "Persistant", Participants: []types.JID{bobDevice.ToNonAD()}})
	if err != nil {
		t.Fatal(err)
	}
	bob.cli.Disconnect()
	waitUntil(t, "bob to be offline", func() bool { return !first.IsConnected(bobDevice) })
	queued, err := alice.cli.SendMessage(ctx, bobDevice.ToNonAD(), whatsmeowText("kept across the restart"))
	if err != nil {
		t.Fatal(err)
	}
	alice.cli.Disconnect()
	rootKey, caPEM := first.RootPublicKey(), first.CACertPEM()
	first.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v, %v", st, err)
	}

	second, err := Start(Options{StateFile: path, Log: &log})
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if second.RootPublicKey() != rootKey || !bytes.Equal(second.CACertPEM(), caPEM) {
		t.Fatal("the restarted server has another root key or CA")
	}
	bob2 := clientForDevice(t, second, "bob-after", bob.dev, bob.mem)
	if err = bob2.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	msg, _, err := WaitFor(ctx, bob2.log, 0, func(m *events.Message) bool { return m.Info.ID == queued.ID })
	if err != nil {
		t.Fatalf("queued message after restart: %v", err)
	}
	if textOf(msg.Message) != "kept across the restart" {
		t.Fatalf("got %q", textOf(msg.Message))
	}
	alice2 := clientForDevice(t, second, "alice-after", alice.dev, alice.mem)
	if err = alice2.cli.Connect(); err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor[*events.Connected](ctx, alice2.log, 0, nil); err != nil {
		t.Fatal(err)
	}
	resp, err := alice2.cli.SendMessage(ctx, info.JID, whatsmeowText("the group is still here"))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err = WaitFor(ctx, bob2.log, 0, func(m *events.Message) bool {
		return m.Info.ID == resp.ID && textOf(m.Message) == "the group is still here"
	}); err != nil {
		t.Fatal(err)
	}

	// A corrupt state file is refused with the path in the error.
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte("{not json"), 0o600)
	if _, err = Start(Options{StateFile: bad}); err == nil || !bytes.Contains([]byte(err.Error()), []byte(bad)) {
		t.Fatalf("corrupt state: err = %v", err)
	}
}
