package bridgetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// ReplyTimeout is how long helpers wait for the bot or the homeserver.
const ReplyTimeout = 45 * time.Second

// OpenManagementRoom creates a direct chat with the bot the way a client without encryption
// does, waits for the bot to join and send its welcome, and returns the room. The first such room
// of a user becomes their management room. Encryption is left to the bridge, which (bridgev2 as of
// v0.32) does not turn it on in a room a user created unencrypted.
func (b *Bridge) OpenManagementRoom(t testing.TB, cli *mautrix.Client) id.RoomID {
	t.Helper()
	return b.openDM(t, cli, false)
}

// OpenEncryptedManagementRoom is OpenManagementRoom for a client that creates DMs encrypted, as
// Element does: m.room.encryption (megolm) is in the room's initial state. The bot's messages in
// it are encrypted, so a client without crypto sees only m.room.encrypted events.
func (b *Bridge) OpenEncryptedManagementRoom(t testing.TB, cli *mautrix.Client) id.RoomID {
	t.Helper()
	return b.openDM(t, cli, true)
}

func (b *Bridge) openDM(t testing.TB, cli *mautrix.Client, encrypted bool) id.RoomID {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReplyTimeout)
	defer cancel()
	req := &mautrix.ReqCreateRoom{
		Preset:   "trusted_private_chat",
		IsDirect: true,
		Invite:   []id.UserID{b.Bot},
	}
	if encrypted {
		req.InitialState = []*event.Event{{
			Type:    event.StateEncryption,
			Content: event.Content{Parsed: &event.EncryptionEventContent{Algorithm: id.AlgorithmMegolmV1}},
		}}
	}
	resp, err := cli.CreateRoom(ctx, req)
	if err != nil {
		t.Fatalf("bridgetest: %s opens a DM with %s: %v", cli.UserID, b.Bot, err)
	}
	b.WaitForEvent(t, cli, resp.RoomID, "", func(evt *event.Event) bool {
		return evt.Sender == b.Bot && (evt.Type == event.EventMessage || evt.Type == event.EventEncrypted)
	})
	return resp.RoomID
}

// Command sends text in the room and returns the bot's first message after it. It fails the
// test if the reply is encrypted (this client has no crypto; use the JS client for that) or
// does not come within ReplyTimeout.
func (b *Bridge) Command(t testing.TB, cli *mautrix.Client, room id.RoomID, text string) *event.MessageEventContent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReplyTimeout)
	defer cancel()
	sent, err := cli.SendText(ctx, room, text)
	if err != nil {
		t.Fatalf("bridgetest: %s sends %q: %v", cli.UserID, text, err)
	}
	reply := b.WaitForEvent(t, cli, room, sent.EventID, func(evt *event.Event) bool {
		return evt.Sender == b.Bot && (evt.Type == event.EventMessage || evt.Type == event.EventEncrypted)
	})
	if reply.Type == event.EventEncrypted {
		t.Fatalf("bridgetest: the bot's reply to %q in %s is encrypted; this client cannot read it", text, room)
	}
	msg := reply.Content.AsMessage()
	if msg == nil {
		t.Fatalf("bridgetest: the bot's reply %s to %q has no message content", reply.ID, text)
	}
	return msg
}

// WaitForEvent pages through the room (newest 200 events) until an event after `after` (or any
// event, when after is empty) satisfies match, and returns it; the test fails after ReplyTimeout.
func (b *Bridge) WaitForEvent(t testing.TB, cli *mautrix.Client, room id.RoomID, after id.EventID, match func(*event.Event) bool) *event.Event {
	t.Helper()
	evt, err := WaitForEvent(context.Background(), cli, room, after, match)
	if err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	return evt
}

// WaitForEvent is the error-returning form of Bridge.WaitForEvent.
func WaitForEvent(ctx context.Context, cli *mautrix.Client, room id.RoomID, after id.EventID, match func(*event.Event) bool) (*event.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, ReplyTimeout)
	defer cancel()
	var lastErr error
	for {
		events, err := recentEvents(ctx, cli, room, 200)
		if err == nil {
			start := 0
			if after != "" {
				start = slices.IndexFunc(events, func(e *event.Event) bool { return e.ID == after }) + 1
			}
			if after == "" || start > 0 {
				for _, evt := range events[start:] {
					_ = evt.Content.ParseRaw(evt.Type)
					if match(evt) {
						return evt, nil
					}
				}
			}
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%s waited %s in %s for an event after %q that never came (last error: %v)",
				cli.UserID, ReplyTimeout, room, after, lastErr)
		case <-time.After(150 * time.Millisecond):
		}
	}
}

// recentEvents returns up to limit latest room events, oldest first.
func recentEvents(ctx context.Context, cli *mautrix.Client, room id.RoomID, limit int) ([]*event.Event, error) {
	resp, err := cli.Messages(ctx, room, "", "", mautrix.DirectionBackward, nil, limit)
	if err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", room, err)
	}
	events := slices.Clone(resp.Chunk)
	slices.Reverse(events)
	return events, nil
}

// RoomState returns the content of a state event, or (nil, nil) when the room has none.
func RoomState(ctx context.Context, cli *mautrix.Client, room id.RoomID, evtType event.Type, stateKey string) (map[string]any, error) {
	var content map[string]any
	err := cli.StateEvent(ctx, room, evtType, stateKey, &content)
	if errors.Is(err, mautrix.MNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s state of %s: %w", evtType.Type, room, err)
	}
	return content, nil
}

// Provision calls the bridge's provisioning API as user: method and path below
// /_matrix/provision (e.g. "GET", "/v3/login/flows"), the shared secret as bearer token and
// user_id in the query, as bridgev2/matrix/provisioning.go expects. body (if not nil) is sent as
// JSON; a 2xx answer is decoded into out (if not nil). It returns the HTTP status.
func (b *Bridge) Provision(ctx context.Context, method, path string, user id.UserID, body, out any) (int, error) {
	return b.ProvisionWithSecret(ctx, b.SharedSecret, method, path, user, body, out)
}

// ProvisionWithSecret is Provision with another bearer token, to test that the API refuses it.
func (b *Bridge) ProvisionWithSecret(ctx context.Context, secret, method, path string, user id.UserID, body, out any) (int, error) {
	u, err := url.Parse(b.Address + "/_matrix/provision" + path)
	if err != nil {
		return 0, fmt.Errorf("provisioning path %q: %w", path, err)
	}
	q := u.Query()
	q.Set("user_id", user.String())
	u.RawQuery = q.Encode()
	var reader io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("encode provisioning request: %w", err)
		}
		reader = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), reader)
	if err != nil {
		return 0, fmt.Errorf("provisioning %s %s: %w", method, path, err)
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("provisioning %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("provisioning %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("provisioning %s %s: HTTP %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(raw)))
	}
	if out != nil {
		if err = json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("provisioning %s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return resp.StatusCode, nil
}

// EncryptedCommand sends text from an E2EE client into an encrypted room and returns the bot's
// first encrypted reply after it, decrypted. Clear notices from the bot are skipped: bridgev2
// posts one ("waiting for the decryption key…", later redacted) when the user's room key reaches
// it after the message. The test fails if the room is not encrypted or no encrypted reply could
// be decrypted within ReplyTimeout; the bot's clear messages are then listed.
func (b *Bridge) EncryptedCommand(t testing.TB, u *hstest.CryptoUser, room id.RoomID, text string) *event.MessageEventContent {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ReplyTimeout)
	defer cancel()
	if err := u.WaitForEncryption(ctx, room); err != nil {
		t.Fatalf("bridgetest: %v", err)
	}
	sent, err := u.SendText(ctx, room, text)
	if err != nil {
		t.Fatalf("bridgetest: %s sends %q encrypted: %v", u.UserID, text, err)
	}
	reply, err := u.WaitForEvent(ctx, room, sent.EventID, func(evt *event.Event) bool {
		return evt.Sender == b.Bot && evt.Type == event.EventMessage && evt.Mautrix.WasEncrypted
	})
	if err != nil {
		var pending, clear []string
		events := u.Timeline(room)
		start := slices.IndexFunc(events, func(e *event.Event) bool { return e.ID == sent.EventID }) + 1
		for _, evt := range events[start:] {
			switch {
			case evt.Sender != b.Bot:
			case evt.Type == event.EventEncrypted:
				pending = append(pending, evt.ID.String())
			case evt.Type == event.EventMessage && !evt.Mautrix.WasEncrypted:
				clear = append(clear, evt.Content.AsMessage().Body)
			}
		}
		t.Fatalf("bridgetest: no decryptable encrypted reply from %s to %q (bot events still encrypted: %v; bot messages in clear: %q): %v",
			b.Bot, text, pending, clear, err)
	}
	return reply.Content.AsMessage()
}
