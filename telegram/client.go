package telegram

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gotd/contrib/middleware/floodwait"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/telegram/updates/hook"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/status"

	"github.com/passerelle-bridge/passerelle/metrics"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
	"github.com/passerelle-bridge/passerelle/telegram/tgstore"
)

// Bridge state error codes of the Telegram connector.
const (
	StateSessionRevoked status.BridgeStateErrorCode = "tg-session-revoked"
	StateConnectionLost status.BridgeStateErrorCode = "tg-connection-lost"
	StateFloodWait      status.BridgeStateErrorCode = "tg-flood-wait"
)

// MaxFloodWait is the longest FLOOD_WAIT the client sits out before giving up on a request.
const MaxFloodWait = 15 * time.Minute

// Client is the NetworkAPI of one Telegram account. It keeps one MTProto connection with a
// gotd updates manager, reconnecting with backoff until the session is revoked or the login is
// disconnected.
type Client struct {
	main   *Connector
	login  *bridgev2.UserLogin
	userID int64
	meta   *tgmeta.Login
	log    zerolog.Logger
	gate   *tgstore.Gate

	mu      sync.Mutex
	api     *tg.Client
	apiSet  chan struct{} // closed when api is set; replaced when it is cleared
	cancel  context.CancelFunc
	stopped chan struct{}
	restart chan struct{}
	revoked atomic.Bool

	// linkUp is true between CONNECTED and the next lost connection; Matrix sends go to the
	// outbox while it is false (see outbox.go).
	linkUp atomic.Bool

	selfMu sync.Mutex
	self   *tg.User

	// handOff gives an event to bridgev2: the login's QueueRemoteEvent (tests wrap it).
	handOff func(bridgev2.RemoteEvent) bridgev2.EventHandlingResult
}

var _ bridgev2.NetworkAPI = (*Client)(nil)

func newClient(main *Connector, login *bridgev2.UserLogin, userID int64, meta *tgmeta.Login) *Client {
	return &Client{
		main:    main,
		login:   login,
		userID:  userID,
		meta:    meta,
		log:     login.Log.With().Str("component", "telegram").Int64("tg_user_id", userID).Logger(),
		gate:    main.Store.Gate(),
		apiSet:  make(chan struct{}),
		restart: make(chan struct{}, 1),
		handOff: login.QueueRemoteEvent,
	}
}

// errRestart ends one connection so the updates manager starts again from the stored state.
var errRestart = errors.New("an update could not be handed to the bridge; fetching again from the last stored state")

// errNotAuthorized is returned when the stored session is no longer logged in.
var errNotAuthorized = errors.New("the stored Telegram session is not logged in")

// Connect starts the connection loop in the background.
func (c *Client) Connect(ctx context.Context) {
	c.mu.Lock()
	if c.cancel != nil {
		c.mu.Unlock()
		return
	}
	runCtx, cancel := context.WithCancel(c.log.WithContext(context.Background()))
	c.cancel = cancel
	stopped := make(chan struct{})
	c.stopped = stopped
	c.mu.Unlock()
	c.login.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnecting})
	go c.runLoop(runCtx, stopped)
}

// Disconnect stops the connection and waits for it to end.
func (c *Client) Disconnect() {
	c.mu.Lock()
	cancel, stopped := c.cancel, c.stopped
	c.cancel, c.stopped = nil, nil
	c.mu.Unlock()
	if cancel == nil {
		return
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(15 * time.Second):
		c.log.Warn().Msg("Telegram connection did not stop within 15s")
	}
	// The update positions are written behind (tgstore.Gate); what the stopped manager handed
	// over is written now, so a stop or a logout leaves nothing to fetch twice or to write late.
	ctx, cancelFlush := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancelFlush()
	if err := c.gate.Flush(ctx); err != nil {
		c.log.Warn().Err(err).Msg("Could not write the last Telegram update positions; the next start fetches those updates again")
	}
}

func (c *Client) IsLoggedIn() bool { return !c.revoked.Load() }

// IsThisUser reports whether a ghost is this account itself.
func (c *Client) IsThisUser(ctx context.Context, userID networkid.UserID) bool {
	return userID == c.selfUserID()
}

func (c *Client) selfPeer() portal.TGPeer { return portal.TGPeer{Kind: portal.TGUser, ID: c.userID} }

func (c *Client) selfUserID() networkid.UserID { return portal.TGUserID(c.selfPeer()) }

// LogoutRemote ends the Telegram session and forgets everything stored for the account.
func (c *Client) LogoutRemote(ctx context.Context) {
	if api := c.currentAPI(); api != nil {
		if _, err := api.AuthLogOut(ctx); err != nil {
			c.log.Warn().Err(err).Msg("Telegram refused auth.logOut; forgetting the session anyway")
		}
	}
	c.Disconnect()
	if err := c.main.Store.DeleteAccount(ctx, c.userID); err != nil {
		c.log.Err(err).Msg("Failed to delete the stored Telegram session")
	}
	c.login.BridgeState.Send(status.BridgeState{StateEvent: status.StateLoggedOut})
}

func (c *Client) currentAPI() *tg.Client {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.api
}

func (c *Client) setAPI(api *tg.Client) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if api != nil && c.api == nil {
		c.api = api
		close(c.apiSet)
	} else if api == nil && c.api != nil {
		c.api = nil
		c.apiSet = make(chan struct{})
	}
}

// ErrNotConnected is returned to Matrix when a request cannot reach Telegram in time.
var ErrNotConnected = errors.New("not connected to Telegram right now; the bridge keeps retrying")

// API waits (up to 30 s or ctx) for a connected client.
func (c *Client) API(ctx context.Context) (*tg.Client, error) {
	c.mu.Lock()
	api, ready := c.api, c.apiSet
	c.mu.Unlock()
	if api != nil {
		return api, nil
	}
	if c.revoked.Load() {
		return nil, fmt.Errorf("the Telegram session was revoked: log in again")
	}
	select {
	case <-ready:
		return c.currentAPI(), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(30 * time.Second):
		return nil, ErrNotConnected
	}
}

// isRevoked tells errors that mean the session is gone for good from network trouble.
func isRevoked(err error) bool {
	return errors.Is(err, errNotAuthorized) || auth.IsUnauthorized(err) ||
		tgerr.Is(err, "AUTH_KEY_UNREGISTERED", "AUTH_KEY_INVALID", "SESSION_REVOKED", "SESSION_EXPIRED", "USER_DEACTIVATED", "USER_DEACTIVATED_BAN")
}

func (c *Client) runLoop(ctx context.Context, stopped chan struct{}) {
	defer close(stopped)
	delay := time.Second
	for {
		started := time.Now()
		err := c.runOnce(ctx)
		c.setAPI(nil)
		c.linkUp.Store(false)
		if ctx.Err() != nil {
			return
		}
		if errors.Is(err, errRestart) {
			c.log.Warn().Msg("Restarting Telegram updates from the last stored state")
			continue
		}
		if isRevoked(err) {
			c.revoked.Store(true)
			c.log.Warn().Err(err).Msg("Telegram session revoked")
			c.login.BridgeState.Send(status.BridgeState{
				StateEvent: status.StateBadCredentials,
				Error:      StateSessionRevoked,
				Message: "Telegram ended this session (logged out from another device, or the account was deleted or banned). " +
					"Log in again with `login telegram-phone` or `login telegram-qr`.",
			})
			return
		}
		if time.Since(started) > 2*time.Minute {
			delay = time.Second
		}
		metrics.ObserveError(metricsNetwork, "connect")
		c.log.Warn().Err(err).Dur("retry_in", delay).Msg("Telegram connection lost")
		c.login.BridgeState.Send(status.BridgeState{
			StateEvent: status.StateTransientDisconnect,
			Error:      StateConnectionLost,
			Message:    fmt.Sprintf("Lost the connection to Telegram (%v); retrying in %s.", err, delay),
		})
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 2*time.Minute)
	}
}

// runOnce runs one MTProto connection with a fresh updates manager until it fails, ctx ends,
// or an update could not be handed to the bridge (errRestart).
func (c *Client) runOnce(ctx context.Context) error {
	c.gate.Release()
	select {
	case <-c.restart:
	default:
	}
	feed := newUpdateFeed()
	manager := updates.New(updates.Config{
		Handler:          telegram.UpdateHandlerFunc(c.handleUpdates),
		Storage:          c.gate,
		AccessHasher:     c.gate,
		UserAccessHasher: c.gate,
		Logger:           newGotdLogger(c.log.With().Str("component", "gotd_updates").Logger()),
		OnChannelTooLong: func(channelID int64) {
			c.log.Warn().Int64("channel_id", channelID).Msg("Telegram could not replay all missed updates of a channel")
		},
	})
	opts, err := c.main.Config.clientOptions(c.log, c.main.Store.Session(c.userID))
	if err != nil {
		return err
	}
	opts.NoUpdates = false
	// gotd reconnects by itself; every time the connection is ready again the session is checked
	// (a revoked one only shows on the next request) and missed updates are fetched, because a
	// server does not queue updates for a session that was offline.
	readyAgain := make(chan struct{}, 1)
	opts.OnConnectionState = func(s telegram.ConnectionState) {
		switch s {
		case telegram.ConnectionStateReady:
			select {
			case readyAgain <- struct{}{}:
			default:
			}
		case telegram.ConnectionStateDisconnected:
			c.linkUp.Store(false)
			c.login.BridgeState.Send(status.BridgeState{
				StateEvent: status.StateTransientDisconnect,
				Error:      StateConnectionLost,
				Message:    "Lost the connection to Telegram; reconnecting.",
			})
		}
	}
	opts.UpdateHandler = telegram.UpdateHandlerFunc(func(ctx context.Context, u tg.UpdatesClass) error {
		feed.push(u)
		return nil
	})
	// SimpleWaiter waits out FLOOD_WAIT inline. The scheduler-based floodwait.Waiter sends every
	// request on its next tick, which added a whole tick (10 ms) to each message; floodObserver,
	// inside it, reports each wait (metrics, the message status) before it is waited out.
	waiter := floodwait.NewSimpleWaiter().
		WithMaxRetries(10).
		WithMaxWait(MaxFloodWait)
	opts.Middlewares = append([]telegram.Middleware{
		// Results of our own requests carry updates (sent messages, edits) the manager must see
		// so they do not look like gaps; they go through the same ordered feed as pushes.
		hook.UpdateHook(func(ctx context.Context, u tg.UpdatesClass) error {
			feed.push(u)
			return nil
		}),
		waiter,
		floodObserver(c.onFloodWait),
	}, opts.Middlewares...)
	client := telegram.NewClient(c.main.Config.APIID, c.main.Config.APIHash, opts)
	return client.Run(ctx, func(ctx context.Context) error {
		st, err := client.Auth().Status(ctx)
		if err != nil {
			return fmt.Errorf("check Telegram authorization: %w", err)
		}
		if !st.Authorized {
			return errNotAuthorized
		}
		if st.User != nil {
			c.setSelf(st.User)
		}
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		api := client.API()
		managerDone := make(chan error, 1)
		go func() {
			// Differences go to the bridge in order through orderedDifferences.
			managerDone <- manager.Run(ctx, orderedDifferences{API: api, handle: c.handleUpdates}, c.userID, updates.AuthOptions{
				IsBot: c.meta.IsBot,
				OnStart: func(ctx context.Context) {
					go feed.run(ctx, manager.Handle)
					c.setAPI(api)
					c.login.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnected})
					c.onConnected()
				},
			})
		}()
		// The first ready signal is this connection's own start.
		select {
		case <-readyAgain:
		default:
		}
		for {
			select {
			case err := <-managerDone:
				if err == nil || errors.Is(err, context.Canceled) {
					return ctx.Err()
				}
				return fmt.Errorf("telegram updates: %w", err)
			case <-c.restart:
				return errRestart
			case <-readyAgain:
				if _, err := api.UpdatesGetState(ctx); err != nil {
					if isRevoked(err) {
						return err
					}
					c.log.Warn().Err(err).Msg("Telegram state check after reconnecting failed")
					continue
				}
				c.login.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnected})
				c.onConnected()
				feed.push(&tg.UpdatesTooLong{})
			}
		}
	})
}

func (c *Client) setSelf(u *tg.User) {
	c.selfMu.Lock()
	c.self = u
	c.selfMu.Unlock()
}

// requestRestart holds the update state and makes the connection restart (see tgstore.Gate).
func (c *Client) requestRestart() {
	c.gate.Hold()
	select {
	case c.restart <- struct{}{}:
	default:
	}
}

func (c *Client) onFloodWait(ctx context.Context, wait floodwait.FloodWait) {
	c.log.Warn().Dur("wait", wait.Duration).Msg("Telegram asked to slow down (FLOOD_WAIT); the request waits and is sent again")
	metrics.ObserveFloodWait(metricsNetwork, wait.Duration)
	if n := floodNotifier(ctx); n != nil {
		n(wait.Duration)
	}
}

// updateFeed hands updates to the manager in arrival order without ever blocking gotd's
// connection: the manager may be busy waiting for the bridge while a request's result (which
// the bridge waits for) has to be read from the same connection.
type updateFeed struct {
	mu     sync.Mutex
	queue  []tg.UpdatesClass
	signal chan struct{}
}

func newUpdateFeed() *updateFeed { return &updateFeed{signal: make(chan struct{}, 1)} }

func (f *updateFeed) push(u tg.UpdatesClass) {
	f.mu.Lock()
	f.queue = append(f.queue, u)
	f.mu.Unlock()
	select {
	case f.signal <- struct{}{}:
	default:
	}
}

func (f *updateFeed) run(ctx context.Context, handle func(context.Context, tg.UpdatesClass) error) {
	for {
		f.mu.Lock()
		batch := f.queue
		f.queue = nil
		f.mu.Unlock()
		for _, u := range batch {
			if err := handle(ctx, u); err != nil && ctx.Err() != nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-f.signal:
		}
	}
}
