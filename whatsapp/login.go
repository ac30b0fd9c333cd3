package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"go.mau.fi/whatsmeow"
	"go.mau.fi/whatsmeow/store"
	"go.mau.fi/whatsmeow/types"
	"go.mau.fi/whatsmeow/types/events"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/status"

	"github.com/passerelle-bridge/passerelle/internal/bv2fix"
	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/whatsapp/wameta"
)

// Login step IDs.
const (
	StepQR       = "wa.passerelle.qr"
	StepPhone    = "wa.passerelle.phone"
	StepCode     = "wa.passerelle.pairing_code"
	StepComplete = "wa.passerelle.complete"
)

// LoginTimeout bounds a whole login: QR codes stop refreshing and pairing codes expire after it.
var LoginTimeout = 3 * time.Minute

// CreateLogin starts a QR or pairing-code login for user.
func (wa *Connector) CreateLogin(ctx context.Context, user *bridgev2.User, flowID string) (bridgev2.LoginProcess, error) {
	if flowID != FlowQR && flowID != FlowPhone {
		return nil, fmt.Errorf("unknown WhatsApp login flow %q (want %s or %s)", flowID, FlowQR, FlowPhone)
	}
	if err := wa.waitStarted(ctx); err != nil {
		return nil, fmt.Errorf("login flow %s: %w", flowID, err)
	}
	if wa.Devices == nil {
		return nil, fmt.Errorf("login flow %s: the bridge has no database", flowID)
	}
	return &Login{Main: wa, User: user, Flow: flowID, log: user.Log.With().Str("login_flow", flowID).Logger()}, nil
}

// Login is a QR-code or pairing-code login in progress: an unpaired whatsmeow device connected
// to WhatsApp and waiting for the phone.
type Login struct {
	Main *Connector
	User *bridgev2.User
	Flow string
	log  zerolog.Logger

	device *store.Device
	client *Client
	ctx    context.Context
	cancel context.CancelFunc

	qrs       <-chan whatsmeow.QRChannelItem
	paired    chan error
	connected chan struct{}
	done      bool
}

var (
	_ bridgev2.LoginProcessDisplayAndWait = (*Login)(nil)
	_ bridgev2.LoginProcessUserInput      = (*Login)(nil)
)

// Start connects a fresh device. The QR flow returns the first QR code; the phone flow asks for
// the phone number first.
func (l *Login) Start(ctx context.Context) (*bridgev2.LoginStep, error) {
	l.ctx, l.cancel = context.WithTimeout(context.Background(), LoginTimeout)
	l.ctx = l.log.WithContext(l.ctx)
	l.device = l.Main.Devices.NewDevice()
	l.paired = make(chan error, 1)
	l.connected = make(chan struct{})
	l.client = &Client{Main: l.Main, Device: l.device, ready: make(chan struct{}), log: l.log}
	l.client.WA = l.Main.newWhatsmeow(l.device, l.log)
	l.client.WA.AddEventHandlerWithSuccessStatus(l.handleLoginEvent)
	l.client.handlers = l.client.WA.AddEventHandlerWithSuccessStatus(l.client.handleEvent)

	if l.Flow == FlowPhone {
		return &bridgev2.LoginStep{
			Type:         bridgev2.LoginStepTypeUserInput,
			StepID:       StepPhone,
			Instructions: "Enter the phone number of your WhatsApp account, in international format (e.g. +33 6 12 34 56 78).",
			UserInputParams: &bridgev2.LoginUserInputParams{Fields: []bridgev2.LoginInputDataField{{
				Type: bridgev2.LoginInputFieldTypePhoneNumber,
				ID:   "phone",
				Name: "Phone number",
			}}},
		}, nil
	}
	qrs, err := l.client.WA.GetQRChannel(l.ctx)
	if err != nil {
		l.Cancel()
		return nil, fmt.Errorf("start WhatsApp QR login: %w", err)
	}
	l.qrs = qrs
	if err = l.client.WA.ConnectContext(l.client.WA.BackgroundEventCtx); err != nil {
		l.Cancel()
		return nil, fmt.Errorf("connect to WhatsApp for QR login: %w", err)
	}
	return l.nextQR(ctx)
}

// nextQR waits for the next QR code (or the end of pairing).
func (l *Login) nextQR(ctx context.Context) (*bridgev2.LoginStep, error) {
	select {
	case item, ok := <-l.qrs:
		if !ok {
			return nil, fmt.Errorf("WhatsApp QR login ended without pairing")
		}
		switch item.Event {
		case whatsmeow.QRChannelEventCode:
			return &bridgev2.LoginStep{
				Type:         bridgev2.LoginStepTypeDisplayAndWait,
				StepID:       StepQR,
				Instructions: "Scan this QR code with WhatsApp on your phone: Settings → Linked devices → Link a device. It refreshes until scanned.",
				DisplayAndWaitParams: &bridgev2.LoginDisplayAndWaitParams{
					Type: bridgev2.LoginDisplayTypeQR,
					Data: item.Code,
				},
			}, nil
		case whatsmeow.QRChannelEventError:
			l.Cancel()
			return nil, fmt.Errorf("WhatsApp pairing failed: %w", item.Error)
		case "success":
			return l.finish(ctx)
		case "timeout":
			l.Cancel()
			return nil, fmt.Errorf("the QR code was not scanned in time; start the login again")
		default:
			l.Cancel()
			return nil, fmt.Errorf("WhatsApp QR login stopped: %s", item.Event)
		}
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		l.Cancel()
		return nil, fmt.Errorf("WhatsApp login timed out after %s; start it again", LoginTimeout)
	}
}

// SubmitUserInput takes the phone number and shows the pairing code.
func (l *Login) SubmitUserInput(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	phone := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, input["phone"])
	if len(phone) < 7 || strings.HasPrefix(phone, "0") {
		return nil, fmt.Errorf("phone number %q: use the international format with the country code, e.g. +33612345678", input["phone"])
	}
	if err := l.client.WA.ConnectContext(l.client.WA.BackgroundEventCtx); err != nil {
		l.Cancel()
		return nil, fmt.Errorf("connect to WhatsApp for pairing-code login: %w", err)
	}
	// WhatsApp accepts a pairing request only once the unpaired connection is set up, which is
	// when whatsmeow shows its first QR code; wait for it.
	select {
	case <-l.qrReady():
	case <-l.ctx.Done():
		l.Cancel()
		return nil, fmt.Errorf("WhatsApp did not offer pairing in time")
	}
	code, err := l.client.WA.PairPhone(ctx, phone, true, whatsmeow.PairClientChrome, "Chrome (Linux)")
	if err != nil {
		l.Cancel()
		return nil, fmt.Errorf("request a WhatsApp pairing code for +%s: %w", phone, err)
	}
	return &bridgev2.LoginStep{
		Type:   bridgev2.LoginStepTypeDisplayAndWait,
		StepID: StepCode,
		Instructions: "On your phone, open WhatsApp → Settings → Linked devices → Link a device → Link with phone number instead, " +
			"and type this code.",
		DisplayAndWaitParams: &bridgev2.LoginDisplayAndWaitParams{Type: bridgev2.LoginDisplayTypeCode, Data: code},
	}, nil
}

// qrReady returns a channel closed when the unpaired connection got its first QR event.
func (l *Login) qrReady() <-chan struct{} {
	ch := make(chan struct{})
	if l.qrs == nil {
		qrs, err := l.client.WA.GetQRChannel(l.ctx)
		if err == nil {
			l.qrs = qrs
		}
	}
	go func() {
		if l.qrs == nil {
			close(ch)
			return
		}
		for item := range l.qrs {
			if item.Event == whatsmeow.QRChannelEventCode {
				close(ch)
				return
			}
		}
	}()
	return ch
}

// Wait waits for the phone: a new QR code, or the completed login.
func (l *Login) Wait(ctx context.Context) (*bridgev2.LoginStep, error) {
	if l.Flow == FlowQR {
		return l.nextQR(ctx)
	}
	select {
	case err := <-l.paired:
		if err != nil {
			l.Cancel()
			return nil, fmt.Errorf("WhatsApp pairing failed: %w", err)
		}
		return l.finish(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-l.ctx.Done():
		l.Cancel()
		return nil, fmt.Errorf("the pairing code was not entered in time; start the login again")
	}
}

// handleLoginEvent watches pairing and the first connection of the paired device.
func (l *Login) handleLoginEvent(evt any) bool {
	switch e := evt.(type) {
	case *events.PairSuccess:
		select {
		case l.paired <- nil:
		default:
		}
	case *events.PairError:
		select {
		case l.paired <- e.Error:
		default:
		}
	case *events.Connected:
		select {
		case <-l.connected:
		default:
			close(l.connected)
		}
	}
	return true
}

// finish waits until the paired device logged in, then creates (or replaces) the UserLogin.
func (l *Login) finish(ctx context.Context) (*bridgev2.LoginStep, error) {
	select {
	case <-l.connected:
	case <-l.ctx.Done():
		l.Cancel()
		return nil, fmt.Errorf("paired, but the first connection of the new device did not complete")
	}
	jid := l.client.WA.Store.ID
	if jid == nil {
		l.Cancel()
		return nil, fmt.Errorf("paired, but whatsmeow did not store the device ID")
	}
	account := jid.ToNonAD()
	pushName := l.client.WA.Store.PushName
	name := "+" + account.User
	if pushName != "" {
		name = fmt.Sprintf("%s (+%s)", pushName, account.User)
	}
	ul, err := l.User.NewLogin(ctx, &database.UserLogin{
		ID:         portal.WALoginID(account),
		RemoteName: name,
		RemoteProfile: status.RemoteProfile{
			Phone: "+" + account.User,
			Name:  pushName,
		},
		Metadata: &portal.LoginMeta{WA: &wameta.Login{WADeviceID: jid.Device, LID: l.client.WA.Store.LID.User}},
	}, &bridgev2.NewLoginParams{
		DeleteOnConflict: true,
		LoadUserLogin: func(ctx context.Context, login *bridgev2.UserLogin) error {
			// bridgev2 gives a new login no in-portal cache: without it every incoming event
			// costs two queries (bv2fix.EnsurePortalCache).
			bv2fix.EnsurePortalCache(login)
			c := l.client
			c.UserLogin = login
			c.log = login.Log.With().Str("network", "whatsapp").Logger()
			c.queue = login.QueueRemoteEvent
			if l.Main.Devices != nil {
				c.WA.GetMessageForRetry = l.Main.Devices.RetryMessageGetter(*jid)
				guardRetries(c.WA, l.Main.Devices.CryptoLock(*jid), c.log)
			}
			login.Client = c
			return nil
		},
	})
	if err != nil {
		l.Cancel()
		return nil, fmt.Errorf("save WhatsApp login +%s: %w", account.User, err)
	}
	l.done = true
	l.client.markReady()
	l.cancel()
	ul.BridgeState.Send(status.BridgeState{StateEvent: status.StateConnected})
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeComplete,
		StepID:       StepComplete,
		Instructions: fmt.Sprintf("Logged in to WhatsApp as %s. Your chats will appear as they become active.", name),
		CompleteParams: &bridgev2.LoginCompleteParams{
			UserLoginID: ul.ID,
			UserLogin:   ul,
		},
	}, nil
}

// Cancel stops an unfinished login and forgets the unpaired or half-paired device.
func (l *Login) Cancel() {
	if l.done {
		return
	}
	if l.cancel != nil {
		l.cancel()
	}
	if l.client != nil && l.client.WA != nil {
		l.client.WA.Disconnect()
		if l.client.WA.Store.ID != nil {
			_ = l.client.WA.Store.Delete(context.Background())
		}
	}
}

var _ = errors.New
var _ types.JID
