package whatsapp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/status"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// The connector tests run a real bridgev2.Bridge (real database, portals, message table) against
// the WhatsApp test server. Only the Matrix side is replaced: recordingMatrix keeps what the
// bridge would have sent to a homeserver so tests can assert on it. End-to-end tests through a
// real homeserver live in e2e/.

type sentEvent struct {
	RoomID  id.RoomID
	EventID id.EventID
	Sender  id.UserID
	Type    event.Type
	Content *event.Content
}

// Message returns the event's content as a message (nil-safe parse).
func (e sentEvent) Message() *event.MessageEventContent {
	if e.Content == nil {
		return nil
	}
	_ = e.Content.ParseRaw(e.Type)
	msg, _ := e.Content.Parsed.(*event.MessageEventContent)
	return msg
}

type recordingMatrix struct {
	br *bridgev2.Bridge

	mu       sync.Mutex
	cond     *sync.Cond
	events   []sentEvent
	states   []status.BridgeState
	statuses []bridgev2.MessageStatus
	media    map[id.ContentURIString][]byte
	counter  int
	intents  map[id.UserID]*recordingIntent
	// power holds each room's current power levels, as a homeserver would.
	power map[id.RoomID]*event.PowerLevelsEventContent
	// members holds each room's memberships.
	members map[id.RoomID]map[id.UserID]event.Membership
}

func newRecordingMatrix() *recordingMatrix {
	m := &recordingMatrix{media: map[id.ContentURIString][]byte{}, intents: map[id.UserID]*recordingIntent{}, power: map[id.RoomID]*event.PowerLevelsEventContent{}, members: map[id.RoomID]map[id.UserID]event.Membership{}}
	m.cond = sync.NewCond(&m.mu)
	return m
}

var _ bridgev2.MatrixConnector = (*recordingMatrix)(nil)

func (m *recordingMatrix) Init(br *bridgev2.Bridge)        { m.br = br }
func (m *recordingMatrix) Start(ctx context.Context) error { return nil }
func (m *recordingMatrix) PreStop()                        {}
func (m *recordingMatrix) Stop()                           {}
func (m *recordingMatrix) GetCapabilities() *bridgev2.MatrixCapabilities {
	return &bridgev2.MatrixCapabilities{}
}
func (m *recordingMatrix) ServerName() string            { return "test" }
func (m *recordingMatrix) BotIntent() bridgev2.MatrixAPI { return m.intent("@bot:test") }
func (m *recordingMatrix) GhostIntent(u networkid.UserID) bridgev2.MatrixAPI {
	return m.intent(m.FormatGhostMXID(u))
}

func (m *recordingMatrix) FormatGhostMXID(u networkid.UserID) id.UserID {
	return id.UserID("@ghost_" + string(u) + ":test")
}

func (m *recordingMatrix) ParseGhostMXID(u id.UserID) (networkid.UserID, bool) {
	s := string(u)
	if !strings.HasPrefix(s, "@ghost_") || !strings.HasSuffix(s, ":test") {
		return "", false
	}
	return networkid.UserID(strings.TrimSuffix(strings.TrimPrefix(s, "@ghost_"), ":test")), true
}

func (m *recordingMatrix) intent(u id.UserID) *recordingIntent {
	m.mu.Lock()
	defer m.mu.Unlock()
	if in, ok := m.intents[u]; ok {
		return in
	}
	in := &recordingIntent{m: m, mxid: u}
	m.intents[u] = in
	return in
}

func (m *recordingMatrix) NewUserIntent(ctx context.Context, userID id.UserID, accessToken string) (bridgev2.MatrixAPI, string, error) {
	return nil, "", errors.New("no double puppeting in tests")
}

func (m *recordingMatrix) SendBridgeStatus(ctx context.Context, state *status.BridgeState) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.states = append(m.states, *state)
	m.cond.Broadcast()
	return nil
}

func (m *recordingMatrix) SendMessageStatus(ctx context.Context, st *bridgev2.MessageStatus, evt *bridgev2.MessageStatusEventInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.statuses = append(m.statuses, *st)
	m.cond.Broadcast()
}

func (m *recordingMatrix) GenerateContentURI(ctx context.Context, mediaID networkid.MediaID) (id.ContentURIString, error) {
	return "", errors.New("no direct media in tests")
}
func (m *recordingMatrix) ParseContentURI(ctx context.Context, uri id.ContentURIString) (networkid.MediaID, error) {
	return nil, errors.New("no direct media in tests")
}
func (m *recordingMatrix) GetPowerLevels(ctx context.Context, roomID id.RoomID) (*event.PowerLevelsEventContent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pl := m.power[roomID]; pl != nil {
		return pl.Clone(), nil
	}
	return &event.PowerLevelsEventContent{}, nil
}

func (m *recordingMatrix) setPower(roomID id.RoomID, pl *event.PowerLevelsEventContent) {
	if pl == nil {
		return
	}
	m.mu.Lock()
	m.power[roomID] = pl.Clone()
	m.mu.Unlock()
}
func (m *recordingMatrix) GetMembers(ctx context.Context, roomID id.RoomID) (map[id.UserID]*event.MemberEventContent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[id.UserID]*event.MemberEventContent{}
	for u, ms := range m.members[roomID] {
		out[u] = &event.MemberEventContent{Membership: ms}
	}
	return out, nil
}
func (m *recordingMatrix) GetMemberInfo(ctx context.Context, roomID id.RoomID, userID id.UserID) (*event.MemberEventContent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ms, ok := m.members[roomID][userID]; ok {
		return &event.MemberEventContent{Membership: ms}, nil
	}
	return nil, nil
}

func (m *recordingMatrix) setMember(roomID id.RoomID, user id.UserID, ms event.Membership) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.members[roomID] == nil {
		m.members[roomID] = map[id.UserID]event.Membership{}
	}
	m.members[roomID][user] = ms
}
func (m *recordingMatrix) BatchSend(ctx context.Context, roomID id.RoomID, req *mautrix.ReqBeeperBatchSend, extras []*bridgev2.MatrixSendExtra) (*mautrix.RespBeeperBatchSend, error) {
	return nil, errors.New("no batch send")
}
func (m *recordingMatrix) GenerateDeterministicRoomID(networkid.PortalKey) id.RoomID { return "" }
func (m *recordingMatrix) GenerateDeterministicEventID(id.RoomID, networkid.PortalKey, networkid.MessageID, networkid.PartID) id.EventID {
	return ""
}
func (m *recordingMatrix) GenerateReactionEventID(id.RoomID, *database.Message, networkid.UserID, networkid.EmojiID) id.EventID {
	return ""
}

func (m *recordingMatrix) record(evt sentEvent) id.EventID {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.counter++
	if evt.EventID == "" {
		evt.EventID = id.EventID(fmt.Sprintf("$ev%d", m.counter))
	}
	m.events = append(m.events, evt)
	m.cond.Broadcast()
	return evt.EventID
}

// waitEvent waits for a recorded event from index from on that matches, and returns it with the
// index after it.
func (m *recordingMatrix) waitEvent(t testing.TB, from int, what string, match func(sentEvent) bool) (sentEvent, int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	timer := time.AfterFunc(20*time.Second, func() { m.mu.Lock(); m.cond.Broadcast(); m.mu.Unlock() })
	defer timer.Stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		for i := from; i < len(m.events); i++ {
			if match(m.events[i]) {
				return m.events[i], i + 1
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, e := range m.events[from:] {
				seen = append(seen, fmt.Sprintf("%s in %s by %s: %s", e.Type.Type, e.RoomID, e.Sender, e.Content.VeryRaw))
			}
			t.Fatalf("timed out waiting for %s; events seen:\n%s", what, strings.Join(seen, "\n"))
		}
		m.cond.Wait()
	}
}

func (m *recordingMatrix) count(match func(sentEvent) bool) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, e := range m.events {
		if match(e) {
			n++
		}
	}
	return n
}

func (m *recordingMatrix) eventCount() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.events)
}

// waitState waits for a bridge state of a login matching the event (and error code when set).
func (m *recordingMatrix) waitState(t testing.TB, login networkid.UserLoginID, want status.BridgeStateEvent, code status.BridgeStateErrorCode) status.BridgeState {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	timer := time.AfterFunc(20*time.Second, func() { m.mu.Lock(); m.cond.Broadcast(); m.mu.Unlock() })
	defer timer.Stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		for _, st := range m.states {
			if st.RemoteID == login && st.StateEvent == want && (code == "" || st.Error == code) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for bridge state %s %s of %s; got %+v", want, code, login, m.states)
		}
		m.cond.Wait()
	}
}

func (m *recordingMatrix) waitStatus(t testing.TB, match func(bridgev2.MessageStatus) bool) bridgev2.MessageStatus {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	timer := time.AfterFunc(20*time.Second, func() { m.mu.Lock(); m.cond.Broadcast(); m.mu.Unlock() })
	defer timer.Stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		for _, st := range m.statuses {
			if match(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, st := range m.statuses {
				seen = append(seen, fmt.Sprintf("%s %v %q", st.Status, st.InternalError, st.Message))
			}
			t.Fatalf("timed out waiting for a message status; got %s", strings.Join(seen, "; "))
		}
		m.cond.Wait()
	}
}

type recordingIntent struct {
	m    *recordingMatrix
	mxid id.UserID
}

var _ bridgev2.MatrixAPI = (*recordingIntent)(nil)

func (in *recordingIntent) GetMXID() id.UserID   { return in.mxid }
func (in *recordingIntent) IsDoublePuppet() bool { return false }

func (in *recordingIntent) SendMessage(ctx context.Context, roomID id.RoomID, eventType event.Type, content *event.Content, extra *bridgev2.MatrixSendExtra) (*mautrix.RespSendEvent, error) {
	if content.Parsed != nil && content.VeryRaw == nil {
		raw, err := jsonMarshal(content)
		if err != nil {
			return nil, err
		}
		content.VeryRaw = raw
	}
	evtID := in.m.record(sentEvent{RoomID: roomID, Sender: in.mxid, Type: eventType, Content: content})
	return &mautrix.RespSendEvent{EventID: evtID}, nil
}

func (in *recordingIntent) SendState(ctx context.Context, roomID id.RoomID, eventType event.Type, stateKey string, content *event.Content, ts time.Time) (*mautrix.RespSendEvent, error) {
	if content.Parsed != nil && content.VeryRaw == nil {
		content.VeryRaw, _ = jsonMarshal(content)
	}
	if eventType == event.StateMember {
		if mc, ok := content.Parsed.(*event.MemberEventContent); ok {
			in.m.setMember(roomID, id.UserID(stateKey), mc.Membership)
		}
	}
	if eventType == event.StatePowerLevels {
		if pl, ok := content.Parsed.(*event.PowerLevelsEventContent); ok {
			in.m.setPower(roomID, pl)
		}
	}
	evtID := in.m.record(sentEvent{RoomID: roomID, Sender: in.mxid, Type: eventType, Content: content})
	return &mautrix.RespSendEvent{EventID: evtID}, nil
}

func (in *recordingIntent) MarkRead(ctx context.Context, roomID id.RoomID, eventID id.EventID, ts time.Time) error {
	in.m.record(sentEvent{RoomID: roomID, Sender: in.mxid, Type: event.EphemeralEventReceipt, Content: &event.Content{VeryRaw: []byte(`{"event_id":"` + string(eventID) + `"}`)}})
	return nil
}
func (in *recordingIntent) MarkUnread(ctx context.Context, roomID id.RoomID, unread bool) error {
	return nil
}
func (in *recordingIntent) MarkTyping(ctx context.Context, roomID id.RoomID, typingType bridgev2.TypingType, timeout time.Duration) error {
	in.m.record(sentEvent{RoomID: roomID, Sender: in.mxid, Type: event.EphemeralEventTyping, Content: &event.Content{VeryRaw: []byte(fmt.Sprintf(`{"timeout":%d}`, timeout.Milliseconds()))}})
	return nil
}

func (in *recordingIntent) DownloadMedia(ctx context.Context, uri id.ContentURIString, file *event.EncryptedFileInfo) ([]byte, error) {
	in.m.mu.Lock()
	defer in.m.mu.Unlock()
	data, ok := in.m.media[uri]
	if !ok {
		return nil, fmt.Errorf("no media %s", uri)
	}
	return data, nil
}

func (in *recordingIntent) DownloadMediaToFile(ctx context.Context, uri id.ContentURIString, file *event.EncryptedFileInfo, writable bool, callback func(*os.File) error) error {
	data, err := in.DownloadMedia(ctx, uri, file)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp("", "media")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if _, err = f.Write(data); err != nil {
		return err
	}
	_, _ = f.Seek(0, io.SeekStart)
	return callback(f)
}

func (in *recordingIntent) UploadMedia(ctx context.Context, roomID id.RoomID, data []byte, fileName, mimeType string) (id.ContentURIString, *event.EncryptedFileInfo, error) {
	in.m.mu.Lock()
	defer in.m.mu.Unlock()
	in.m.counter++
	uri := id.ContentURIString(fmt.Sprintf("mxc://test/media%d", in.m.counter))
	in.m.media[uri] = bytes.Clone(data)
	return uri, nil, nil
}

func (in *recordingIntent) UploadMediaStream(ctx context.Context, roomID id.RoomID, size int64, requireFile bool, cb bridgev2.FileStreamCallback) (id.ContentURIString, *event.EncryptedFileInfo, error) {
	var buf bytes.Buffer
	res, err := cb(&buf)
	if err != nil {
		return "", nil, err
	}
	data := buf.Bytes()
	if res != nil && res.ReplacementFile != "" {
		if data, err = os.ReadFile(res.ReplacementFile); err != nil {
			return "", nil, err
		}
	}
	return in.UploadMedia(ctx, roomID, data, "", "")
}

func (in *recordingIntent) SetDisplayName(ctx context.Context, name string) error { return nil }
func (in *recordingIntent) SetAvatarURL(ctx context.Context, avatarURL id.ContentURIString) error {
	in.m.record(sentEvent{Sender: in.mxid, Type: profileAvatarType, Content: &event.Content{VeryRaw: []byte(`"` + string(avatarURL) + `"`)}})
	return nil
}

// profileAvatarType marks a recorded profile avatar change (not a room event).
var profileAvatarType = event.Type{Type: "passerelle.test.profile_avatar"}

func (in *recordingIntent) SetExtraProfileMeta(ctx context.Context, data any) error { return nil }
func (in *recordingIntent) SetProfile(ctx context.Context, data any) error          { return nil }

func (in *recordingIntent) CreateRoom(ctx context.Context, req *mautrix.ReqCreateRoom) (id.RoomID, error) {
	in.m.mu.Lock()
	in.m.counter++
	roomID := id.RoomID(fmt.Sprintf("!room%d:test", in.m.counter))
	in.m.mu.Unlock()
	raw, _ := jsonMarshal(req)
	pl := req.PowerLevelOverride
	for _, st := range req.InitialState {
		if st.Type == event.StatePowerLevels {
			if p, ok := st.Content.Parsed.(*event.PowerLevelsEventContent); ok {
				pl = p
			}
		}
	}
	if pl == nil {
		pl = &event.PowerLevelsEventContent{}
	}
	if pl.Users == nil {
		pl.Users = map[id.UserID]int{}
	}
	if _, ok := pl.Users[in.mxid]; !ok {
		pl.Users[in.mxid] = 100 // the creator, as a homeserver's default power levels do
	}
	in.m.setPower(roomID, pl)
	in.m.setMember(roomID, in.mxid, event.MembershipJoin)
	for _, u := range req.Invite {
		in.m.setMember(roomID, u, event.MembershipInvite)
	}
	in.m.record(sentEvent{RoomID: roomID, Sender: in.mxid, Type: event.StateCreate, Content: &event.Content{VeryRaw: raw}})
	return roomID, nil
}
func (in *recordingIntent) DeleteRoom(ctx context.Context, roomID id.RoomID, puppetsOnly bool) error {
	return nil
}
func (in *recordingIntent) EnsureJoined(ctx context.Context, roomID id.RoomID, params ...bridgev2.EnsureJoinedParams) error {
	return nil
}
func (in *recordingIntent) EnsureInvited(ctx context.Context, roomID id.RoomID, userID id.UserID) error {
	return nil
}
func (in *recordingIntent) TagRoom(ctx context.Context, roomID id.RoomID, tag event.RoomTag, isTagged bool) error {
	return nil
}
func (in *recordingIntent) MuteRoom(ctx context.Context, roomID id.RoomID, until time.Time) error {
	return nil
}
func (in *recordingIntent) GetEvent(ctx context.Context, roomID id.RoomID, eventID id.EventID) (*event.Event, error) {
	return nil, errors.New("no event fetching in tests")
}
