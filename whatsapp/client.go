package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	waLog "go.mau.fi/whatsmeow/util/log"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/status"

	"github.com/passerelle-bridge/passerelle/delivery"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// Bridge state error codes of WhatsApp logins, with the text users see in their management room.
const (
	StateLoggedOut       status.BridgeStateErrorCode = "wa-logged-out"
	StateStreamReplaced  status.BridgeStateErrorCode = "wa-stream-replaced"
	StateClientOutdated  status.BridgeStateErrorCode = "wa-client-outdated"
	StateTemporaryBan    status.BridgeStateErrorCode = "wa-temporary-ban"
	StateConnectFailure  status.BridgeStateErrorCode = "wa-connect-failure"
	StateNotConnected    status.BridgeStateErrorCode = "wa-not-connected"
	StateKeepaliveFailed status.BridgeStateErrorCode = "wa-keepalive-timeout"
	StateNoDevice        status.BridgeStateErrorCode = "wa-no-device"
)

// stateMessages are the texts of the codes above. They are not registered in bridgev2's
// BridgeStateHumanErrors, because bridgev2 would then replace the message and drop the details
// (ban reason and expiry, refusal reason) that sendState appends.
var stateMessages = map[status.BridgeStateErrorCode]string{
	StateLoggedOut:       "WhatsApp unlinked this device (removed from Linked devices on the phone, or inactive too long). Log in again.",
	StateStreamReplaced:  "Another program connected to WhatsApp with this device's keys, so this one was disconnected. Stop the other copy, then reconnect.",
	StateClientOutdated:  "WhatsApp refused this Passerelle version as outdated. The operator must update Passerelle.",
	StateTemporaryBan:    "WhatsApp temporarily banned this account.",
	StateConnectFailure:  "WhatsApp refused the connection.",
	StateNotConnected:    "Not connected to WhatsApp.",
	StateKeepaliveFailed: "The connection to WhatsApp stopped answering; reconnecting.",
	StateNoDevice:        "This login has no WhatsApp device any more (logged out). Log in again.",
}

// Client is one linked WhatsApp device: the bridgev2 NetworkAPI of a login, around a whatsmeow
// client whose keys live in the device store.
type Client struct {
	Main      *Connector
	UserLogin *bridgev2.UserLogin
	WA        *whatsmeow.Client
	Device    *store.Device
	log       zerolog.Logger

	// queue hands a remote event to bridgev2; tests may replace it to observe events.
	queue func(bridgev2.RemoteEvent) bridgev2.EventHandlingResult

	// ready is closed once UserLogin is set (a client created during login waits for it).
	ready     chan struct{}
	readyOnce sync.Once

	stopped  atomic.Bool
	handlers uint32
	// stop is done once the client is stopped (Disconnect, LogoutRemote) and replaced by Connect:
	// the waits for an outage to end (handing an event to bridgev2, writing its journal row)
	// end with it instead of outliving the login.
	stopMu     sync.Mutex
	stop       context.Context
	cancelStop context.CancelFunc
	// redeliveryPending is set while a reconnect for redelivery is scheduled (redeliverLater).
	redeliveryPending atomic.Bool
	// inbound is the ordered queue of events for bridgev2, with the journal (journal.go).
	inbound inboundQueue

	// onDemand holds the backward backfills waiting for the phone's ON_DEMAND history sync, by
	// canonical chat.
	onDemandMu sync.Mutex
	onDemand   map[types.JID]chan []*events.Message
}

var (
	_ bridgev2.NetworkAPI = (*Client)(nil)
)

// newClient builds the client of a stored login. device is nil when the device was removed.
func (wa *Connector) newClient(login *bridgev2.UserLogin, device *store.Device) *Client {
	c := &Client{Main: wa, UserLogin: login, Device: device, ready: make(chan struct{})}
	c.log = login.Log.With().Str("network", "whatsapp").Logger()
	c.queue = login.QueueRemoteEvent
	c.markReady()
	if device != nil {
		c.WA = wa.newWhatsmeow(device, c.log)
		c.handlers = c.WA.AddEventHandlerWithSuccessStatus(c.handleEvent)
	}
	return c
}

func (c *Client) markReady() { c.readyOnce.Do(func() { close(c.ready) }) }

// untilStopped returns a context that ends when the client is stopped.
func (c *Client) untilStopped() context.Context {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	if c.stop == nil {
		c.stop, c.cancelStop = context.WithCancel(context.Background())
		if c.stopped.Load() {
			c.cancelStop()
		}
	}
	return c.stop
}

// markRunning clears the stop for a new connection.
func (c *Client) markRunning() {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	c.stopped.Store(false)
	if c.stop != nil && c.stop.Err() != nil {
		c.stop, c.cancelStop = nil, nil
	}
}

// markStopped stops the client: its waits for an outage to end give up.
func (c *Client) markStopped() {
	c.stopMu.Lock()
	defer c.stopMu.Unlock()
	c.stopped.Store(true)
	if c.cancelStop != nil {
		c.cancelStop()
	}
}

// newWhatsmeow makes a whatsmeow client with the settings every WhatsApp client of the bridge
// needs: nothing acknowledged before it is handed to bridgev2, decrypted events buffered so a
// redelivered ciphertext is not lost to a ratchet that already moved, retry receipts answered
// from the device store under the device's crypto lock, and the configured proxy and TLS roots.
func (wa *Connector) newWhatsmeow(device *store.Device, log zerolog.Logger) *whatsmeow.Client {
	cli := whatsmeow.NewClient(device, waLog.Zerolog(log.With().Str("component", "whatsmeow").Logger()))
	cli.SynchronousAck = true
	cli.EnableDecryptedEventBuffer = true
	cli.EnableAutoReconnect = true
	cli.AutomaticMessageRerequestFromPhone = true
	if err := wa.Config.applyTransport(cli); err != nil {
		// Validate rejected bad settings before start; keep the defaults rather than crash.
		log.Err(err).Msg("Could not apply the WhatsApp transport settings")
	}
	if wa.Devices != nil && device.ID != nil {
		cli.GetMessageForRetry = wa.Devices.RetryMessageGetter(*device.ID)
		guardRetries(cli, wa.Devices.CryptoLock(*device.ID), log)
	}
	return cli
}

// Connect connects in the background; the result is reported as a bridge state.
func (c *Client) Connect(ctx context.Context) {
	if c.WA == nil || c.Device == nil || c.Device.ID == nil {
		c.sendState(status.StateBadCredentials, StateNoDevice, "")
		return
	}
	c.markRunning()
	c.UserLogin.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnecting})
	// Events acknowledged before a stop but not yet bridged go first, in their order.
	c.replayJournalOrLater(ctx)
	if err := c.WA.ConnectContext(c.WA.BackgroundEventCtx); err != nil {
		c.log.Err(err).Msg("Failed to connect to WhatsApp")
		observeError("connect")
		c.sendState(status.StateTransientDisconnect, StateConnectFailure, err.Error())
	}
}

// Disconnect closes the websocket; whatsmeow does not reconnect after it. The inbound queue
// stops too (what it held is journaled or not yet acknowledged), so a login that is let go
// leaves no goroutine behind; Connect starts it again.
func (c *Client) Disconnect() {
	c.markStopped()
	if c.WA != nil {
		c.WA.Disconnect()
	}
	c.stopInbound()
}

// IsLoggedIn reports whether the device is paired and its keys are stored.
func (c *Client) IsLoggedIn() bool {
	return c.WA != nil && c.Device != nil && c.Device.ID != nil && c.WA.Store.ID != nil
}

// LogoutRemote unlinks the device from the phone and deletes its keys. When WhatsApp cannot be
// told (offline), the keys are still deleted so nothing usable stays behind.
func (c *Client) LogoutRemote(ctx context.Context) {
	if c.WA == nil {
		return
	}
	c.markStopped()
	defer c.stopInbound()
	if err := c.WA.Logout(ctx); err != nil {
		c.log.Warn().Err(err).Msg("Could not tell WhatsApp about the logout; deleting the device keys anyway")
		c.WA.Disconnect()
		if c.WA.Store.ID != nil {
			if err := c.WA.Store.Delete(ctx); err != nil {
				c.log.Err(err).Msg("Failed to delete WhatsApp device keys")
			}
		}
	}
}

// IsThisUser matches the login's own ghost (phone number, or its LID).
func (c *Client) IsThisUser(ctx context.Context, userID networkid.UserID) bool {
	if c.Device == nil || c.Device.ID == nil {
		return false
	}
	if userID == portal.WAUserID(c.Device.ID.ToNonAD()) {
		return true
	}
	return !c.Device.LID.IsEmpty() && userID == portal.WAUserID(c.Device.LID.ToNonAD())
}

// ownJID is the account's phone-number JID without device.
func (c *Client) ownJID() types.JID {
	if c.Device == nil || c.Device.ID == nil {
		return types.EmptyJID
	}
	return c.Device.ID.ToNonAD()
}

func (c *Client) sendState(evt status.BridgeStateEvent, code status.BridgeStateErrorCode, detail string) {
	state := status.BridgeState{StateEvent: evt, Error: code}
	if human := stateMessages[code]; human != "" {
		state.Message = human
		if detail != "" {
			state.Message += " (" + detail + ")"
		}
	} else {
		state.Message = detail
	}
	c.UserLogin.BridgeState.Send(state)
}

// handleConnectionEvent turns whatsmeow's connection events into bridge states. It reports true
// when the event was one of them.
func (c *Client) handleConnectionEvent(evt any) bool {
	switch e := evt.(type) {
	case *events.Connected:
		c.log.Info().Msg("Connected to WhatsApp")
		c.UserLogin.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnected})
		// Journaled events whose hand-off failed go before what WhatsApp delivers now.
		c.replayJournalOrLater(context.Background())
		c.onConnected()
		if err := c.WA.SendPresence(context.Background(), types.PresenceAvailable); err != nil {
			c.log.Debug().Err(err).Msg("Could not mark ourselves online (needed for typing notifications)")
		}
	case *events.LoggedOut:
		c.log.Warn().Bool("on_connect", e.OnConnect).Stringer("reason", e.Reason).Msg("Logged out of WhatsApp")
		c.sendState(status.StateBadCredentials, StateLoggedOut, "")
	case *events.StreamReplaced:
		c.log.Warn().Msg("Another connection replaced ours")
		observeError("stream")
		c.sendState(status.StateBadCredentials, StateStreamReplaced, "")
	case *events.ClientOutdated:
		c.log.Error().Stringer("version", store.GetWAVersion()).Msg("WhatsApp says this client is outdated")
		c.sendState(status.StateBadCredentials, StateClientOutdated, "")
	case *events.TemporaryBan:
		c.log.Warn().Stringer("ban", e).Msg("Temporarily banned")
		c.sendState(status.StateBadCredentials, StateTemporaryBan, e.String())
	case *events.ConnectFailure:
		c.log.Warn().Stringer("reason", e.Reason).Str("message", e.Message).Msg("Connection refused")
		observeError("connect")
		c.sendState(status.StateUnknownError, StateConnectFailure, fmt.Sprintf("%s %s", e.Reason, e.Message))
	case *events.Disconnected:
		if !c.stopped.Load() {
			c.sendState(status.StateTransientDisconnect, StateNotConnected, "")
		}
	case *events.StreamError:
		c.log.Warn().Str("code", e.Code).Msg("WhatsApp stream error")
		observeError("stream")
	case *events.KeepAliveTimeout:
		observeError("keepalive")
		c.sendState(status.StateTransientDisconnect, StateKeepaliveFailed, "")
	case *events.KeepAliveRestored:
		c.UserLogin.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnected})
	default:
		return false
	}
	return true
}

// handleEvent is whatsmeow's event handler. It returns false, so whatsmeow does not acknowledge
// the message and the server delivers it again, whenever the hand-off to bridgev2 failed or the
// handler panicked.
func (c *Client) handleEvent(evt any) (ok bool) {
	start := time.Now()
	defer func() {
		if r := recover(); r != nil {
			c.log.Error().Any("panic", r).Type("event_type", evt).Stack().Msg("Panic while handling WhatsApp event; not acknowledging it")
			ok = false
		}
	}()
	select {
	case <-c.ready:
	default:
		if !c.waitReady(evt) {
			// Either an event of the login process (nothing to acknowledge) or a message that
			// arrived while the login never completed (left for redelivery).
			_, isMsg := evt.(*events.Message)
			return !isMsg
		}
	}
	if c.handleConnectionEvent(evt) {
		return true
	}
	if ordered(evt) {
		return c.enqueue(start, evt)
	}
	return c.handleRemote(withArrival(c.log.WithContext(context.Background()), start), evt)
}

// waitReady holds events that need the login until the login process attached it. Other
// events seen before (QR codes, pairing, the first connection) are the login process's business.
func (c *Client) waitReady(evt any) bool {
	select {
	case <-c.ready:
		return true
	default:
	}
	switch evt.(type) {
	case *events.Message, *events.UndecryptableMessage, *events.Receipt, *events.HistorySync,
		*events.GroupInfo, *events.JoinedGroup, *events.CallOffer:
	default:
		return false
	}
	select {
	case <-c.ready:
		return true
	case <-time.After(2 * time.Minute):
		c.log.Warn().Type("event_type", evt).Msg("Login never completed; leaving the event unacknowledged")
		return false
	}
}

// send queues a remote event, counts it in the metrics and reports whether bridgev2 accepted it
// durably.
func (c *Client) send(ctx context.Context, evt bridgev2.RemoteEvent) bool {
	return c.sendKind(ctx, remoteEventKind(evt.GetType()), evt)
}

// HandOffWait bounds how long a remote event whose hand-off to bridgev2 failed for a transient
// reason (database restarting, homeserver unreachable) is offered again before the handler gives
// up on it; it stays under whatsmeow's five minutes, after which a node handler is left running
// in the background and the next message starts.
var HandOffWait = 2 * time.Minute

// RedeliveryDelay is how long after a hand-off it gave up on the client reconnects, so that
// WhatsApp delivers the messages it holds for the device again.
var RedeliveryDelay = 20 * time.Second

// sendKind is send with the metrics kind given (when the event type alone does not tell it).
//
// An event bridgev2 could not take because something it depends on was briefly unreachable is
// offered again here, for up to HandOffWait, rather than left to WhatsApp: WhatsApp delivers an
// unacknowledged message again only when the device logs in anew, so a message refused during a
// database or homeserver restart would otherwise wait for the next reconnect, which may never
// come (seen in TestSoakWhatsApp: a message refused during a PostgreSQL restart, after the last
// bridge restart, never reached Matrix). Messages behind it wait meanwhile, unacknowledged, as
// they do for the decryption path's database waits. When the hand-off still fails the message is
// left unacknowledged and the client reconnects (redeliverLater) so WhatsApp sends it again.
func (c *Client) sendKind(ctx context.Context, kind string, evt bridgev2.RemoteEvent) bool {
	var res bridgev2.EventHandlingResult
	if evt.GetType() == bridgev2.RemoteEventTyping {
		// A typing notice is stale by the time an outage ends.
		res = c.queue(evt)
	} else {
		res = delivery.RetryHandOff(c.untilStopped(), c.log, "hand a WhatsApp event to bridgev2", HandOffWait,
			func() bridgev2.EventHandlingResult { return c.queue(evt) })
	}
	observeToMatrix(ctx, kind, res)
	if !res.Success {
		if ctx.Value(journaledKey{}) != nil {
			c.log.Warn().Err(res.Error).Stringer("event_type", evt.GetType()).Msg("bridgev2 did not take the event; it stays in the journal and is offered again")
			return false
		}
		c.log.Warn().Err(res.Error).Stringer("event_type", evt.GetType()).Msg("bridgev2 did not take the event; WhatsApp will deliver it again")
		c.redeliverLater()
		return false
	}
	return true
}

// redeliverLater reconnects to WhatsApp after RedeliveryDelay (once for any number of calls in
// that time): WhatsApp delivers the messages a device left unacknowledged again at login only.
func (c *Client) redeliverLater() {
	if c.WA == nil || !c.redeliveryPending.CompareAndSwap(false, true) {
		return
	}
	time.AfterFunc(RedeliveryDelay, func() {
		c.redeliveryPending.Store(false)
		if c.stopped.Load() || !c.WA.IsConnected() {
			// Stopped on purpose, or already reconnecting (the login delivers everything anyway).
			return
		}
		c.log.Info().Msg("Reconnecting so WhatsApp delivers again the messages the bridge could not take")
		c.WA.Disconnect()
		if err := c.WA.ConnectContext(c.WA.BackgroundEventCtx); err != nil {
			c.log.Err(err).Msg("Failed to reconnect to WhatsApp for redelivery")
			observeError("connect")
			c.sendState(status.StateTransientDisconnect, StateConnectFailure, err.Error())
		}
	})
}

// loginMeta returns the WhatsApp metadata of a login, creating it when absent.
func loginMeta(login *bridgev2.UserLogin) *wameta.Login {
	meta, ok := login.Metadata.(*portal.LoginMeta)
	if !ok || meta == nil {
		meta = &portal.LoginMeta{}
		login.Metadata = meta
	}
	if meta.WA == nil {
		meta.WA = &wameta.Login{}
	}
	return meta.WA
}

var errNotConnected = errors.New("not connected to WhatsApp; wait until the login is connected and try again")
