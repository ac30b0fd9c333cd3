package telegram

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/gotd/td/session"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/auth"
	"github.com/gotd/td/telegram/auth/qrlogin"
	"github.com/gotd/td/telegram/updates"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/rs/zerolog"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/bridgev2/status"

	"github.com/passerelle-bridge/passerelle/portal"
	"github.com/passerelle-bridge/passerelle/telegram/tgmeta"
)

// Login step IDs, stable for provisioning API clients.
const (
	StepPhone    = "fi.passerelle.telegram.phone"
	StepCode     = "fi.passerelle.telegram.code"
	StepPassword = "fi.passerelle.telegram.password"
	StepQR       = "fi.passerelle.telegram.qr"
	StepBotToken = "fi.passerelle.telegram.bot_token"
	StepComplete = "fi.passerelle.telegram.complete"
)

// LoginTimeout bounds a login process: its MTProto connection is closed after it.
const LoginTimeout = 15 * time.Minute

// authConn is the temporary MTProto connection of a login, with an in-memory session that is
// copied to the bridge database only once the login succeeded.
type authConn struct {
	client  *telegram.Client
	storage *session.StorageMemory
	cancel  context.CancelFunc
	done    chan error
}

func (tc *Connector) dialAuth(log zerolog.Logger, handler telegram.UpdateHandler) (*authConn, error) {
	storage := &session.StorageMemory{}
	opts, err := tc.Config.clientOptions(log, storage)
	if err != nil {
		return nil, err
	}
	if handler != nil {
		opts.UpdateHandler = handler
		opts.NoUpdates = false
	}
	client := telegram.NewClient(tc.Config.APIID, tc.Config.APIHash, opts)
	ctx, cancel := context.WithTimeout(context.Background(), LoginTimeout)
	ac := &authConn{client: client, storage: storage, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan struct{})
	go func() {
		ac.done <- client.Run(ctx, func(ctx context.Context) error {
			close(ready)
			<-ctx.Done()
			return nil
		})
	}()
	select {
	case <-ready:
		return ac, nil
	case err := <-ac.done:
		cancel()
		return nil, fmt.Errorf("connect to Telegram: %w", err)
	case <-time.After(60 * time.Second):
		cancel()
		return nil, fmt.Errorf("connect to Telegram: no answer within 60s")
	}
}

// sessionData returns the session gotd wrote; gotd saves it shortly after the key exchange,
// which a fast login (a bot token) can beat.
func (ac *authConn) sessionData(ctx context.Context) ([]byte, error) {
	deadline := time.Now().Add(15 * time.Second)
	for {
		data, err := ac.storage.LoadSession(ctx)
		if err == nil && len(data) > 0 {
			return data, nil
		}
		if !errors.Is(err, session.ErrNotFound) && err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("gotd did not save the new session within 15s")
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (ac *authConn) close() {
	if ac == nil {
		return
	}
	ac.cancel()
	select {
	case <-ac.done:
	case <-time.After(10 * time.Second):
	}
}

// baseLogin is what every flow shares: the user, the connector and the temporary connection.
type baseLogin struct {
	main *Connector
	user *bridgev2.User
	log  zerolog.Logger
	flow string

	mu   sync.Mutex
	conn *authConn
}

func (bl *baseLogin) Cancel() {
	bl.mu.Lock()
	conn := bl.conn
	bl.conn = nil
	bl.mu.Unlock()
	conn.close()
}

func passwordStep(hint string) *bridgev2.LoginStep {
	desc := "Your Telegram account has two-step verification on: enter its cloud password."
	if hint != "" {
		desc += " Hint: " + hint
	}
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeUserInput,
		StepID:       StepPassword,
		Instructions: desc,
		UserInputParams: &bridgev2.LoginUserInputParams{Fields: []bridgev2.LoginInputDataField{{
			Type: bridgev2.LoginInputFieldTypePassword, ID: "password", Name: "Cloud password",
		}}},
	}
}

// passwordHint asks the server for the hint of the account's cloud password.
func passwordHint(ctx context.Context, api *tg.Client) string {
	pw, err := api.AccountGetPassword(ctx)
	if err != nil {
		return ""
	}
	return pw.Hint
}

func (bl *baseLogin) submitPassword(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	pw := input["password"]
	if pw == "" {
		return nil, fmt.Errorf("the cloud password is empty: enter the password of your Telegram account's two-step verification")
	}
	res, err := bl.conn.client.Auth().Password(ctx, pw)
	if errors.Is(err, auth.ErrPasswordInvalid) {
		// Ask again rather than fail: an error ends bridgev2's command login, and the QR code
		// (or the login code) would have to be done over for a typo.
		step := passwordStep(passwordHint(ctx, bl.conn.client.API()))
		step.Instructions = "Wrong cloud password, try again. " + step.Instructions
		return step, nil
	} else if err != nil {
		return nil, fmt.Errorf("check cloud password: %w", err)
	}
	return bl.finish(ctx, res, false)
}

// finish stores the new session, creates the user login and connects it.
func (bl *baseLogin) finish(ctx context.Context, res *tg.AuthAuthorization, isBot bool) (*bridgev2.LoginStep, error) {
	self, ok := res.User.(*tg.User)
	if !ok {
		return nil, fmt.Errorf("login answered with %T instead of the account", res.User)
	}
	data, err := bl.conn.sessionData(ctx)
	if err != nil {
		return nil, fmt.Errorf("read new Telegram session: %w", err)
	}
	// Pin the update state at the moment of login, so what arrives before the account's own client
	// has started is fetched by getDifference instead of being skipped by a fresh getState.
	if err := bl.pinUpdateState(ctx, self.ID); err != nil {
		return nil, err
	}
	// The temporary connection is closed before the account's own client starts on the same key.
	bl.Cancel()
	if err := bl.main.Store.Session(self.ID).StoreSession(ctx, data); err != nil {
		return nil, err
	}
	// The update state of an earlier session of the same account is kept: pts belong to the
	// account, so the new session fetches what was missed since (logout deletes it).
	loginID := portal.TGLoginID(self.ID)
	if existing := bl.main.Bridge.GetCachedUserLoginByID(loginID); existing != nil && existing.Client != nil {
		existing.Client.Disconnect()
	}
	name := displayName(self)
	ul, err := bl.user.NewLogin(ctx, &database.UserLogin{
		ID:         loginID,
		RemoteName: name,
		RemoteProfile: status.RemoteProfile{
			Phone:    phoneOf(self),
			Username: self.Username,
			Name:     name,
		},
		Metadata: &portal.LoginMeta{TG: &tgmeta.Login{Phone: phoneOf(self), IsBot: isBot || self.Bot}},
	}, &bridgev2.NewLoginParams{DeleteOnConflict: true})
	if err != nil {
		return nil, fmt.Errorf("save Telegram login: %w", err)
	}
	go ul.Client.Connect(ul.Log.WithContext(context.Background()))
	return &bridgev2.LoginStep{
		Type:           bridgev2.LoginStepTypeComplete,
		StepID:         StepComplete,
		Instructions:   fmt.Sprintf("Logged in to Telegram as %s. Your chats will appear as they get new messages.", name),
		CompleteParams: &bridgev2.LoginCompleteParams{UserLoginID: ul.ID, UserLogin: ul},
	}, nil
}

// pinUpdateState stores the account's current update state unless one is kept from an earlier
// session (whose position must not move forward past what that session missed).
func (bl *baseLogin) pinUpdateState(ctx context.Context, userID int64) error {
	states := bl.main.Store.State()
	if _, found, err := states.GetState(ctx, userID); err != nil {
		return err
	} else if found {
		return nil
	}
	st, err := bl.conn.client.API().UpdatesGetState(ctx)
	if err != nil {
		return fmt.Errorf("get the update state of the new login: %w", err)
	}
	return states.SetState(ctx, userID, updates.State{Pts: st.Pts, Qts: st.Qts, Date: st.Date, Seq: st.Seq})
}

func displayName(u *tg.User) string {
	name := strings.TrimSpace(u.FirstName + " " + u.LastName)
	switch {
	case name != "":
		return name
	case u.Username != "":
		return "@" + u.Username
	case u.Phone != "":
		return "+" + u.Phone
	default:
		return fmt.Sprintf("Telegram user %d", u.ID)
	}
}

func phoneOf(u *tg.User) string {
	if u.Phone == "" {
		return ""
	}
	return "+" + strings.TrimPrefix(u.Phone, "+")
}

// PhoneLogin is the telegram-phone flow: phone number, code, then the cloud password if set.
type PhoneLogin struct {
	baseLogin
	phone, codeHash  string
	awaitingPassword bool
}

var _ bridgev2.LoginProcessUserInput = (*PhoneLogin)(nil)

func (pl *PhoneLogin) Start(ctx context.Context) (*bridgev2.LoginStep, error) {
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeUserInput,
		StepID:       StepPhone,
		Instructions: "Enter the phone number of your Telegram account, with its country code (e.g. +33 6 12 34 56 78).",
		UserInputParams: &bridgev2.LoginUserInputParams{Fields: []bridgev2.LoginInputDataField{{
			Type: bridgev2.LoginInputFieldTypePhoneNumber, ID: "phone", Name: "Phone number",
		}}},
	}, nil
}

func (pl *PhoneLogin) SubmitUserInput(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	switch {
	case pl.codeHash == "":
		return pl.submitPhone(ctx, input)
	case pl.awaitingPassword:
		return pl.submitPassword(ctx, input)
	default:
		return pl.submitCode(ctx, input)
	}
}

func (pl *PhoneLogin) submitPhone(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	phone := normalizePhone(input["phone"])
	if len(phone) < 6 || len(phone) > 16 {
		return nil, fmt.Errorf("%q is not a phone number: write it with its country code, e.g. +33612345678", input["phone"])
	}
	conn, err := pl.main.dialAuth(pl.log, nil)
	if err != nil {
		return nil, err
	}
	pl.mu.Lock()
	pl.conn = conn
	pl.mu.Unlock()
	sent, err := conn.client.Auth().SendCode(ctx, phone, auth.SendCodeOptions{})
	if err != nil {
		pl.Cancel()
		if tgerr.Is(err, "PHONE_NUMBER_INVALID") {
			return nil, bridgev2.RespError{ErrCode: "FI.PASSERELLE.TG_PHONE_INVALID", Err: "Telegram does not know this phone number; check the country code.", StatusCode: 400}
		}
		return nil, fmt.Errorf("ask Telegram for a login code: %w", err)
	}
	code, ok := sent.(*tg.AuthSentCode)
	if !ok {
		pl.Cancel()
		return nil, fmt.Errorf("telegram answered the code request with %T, which this bridge cannot continue", sent)
	}
	pl.phone, pl.codeHash = phone, code.PhoneCodeHash
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeUserInput,
		StepID:       StepCode,
		Instructions: "Telegram sent a login code to your Telegram app (or by SMS). Enter it here.",
		UserInputParams: &bridgev2.LoginUserInputParams{Fields: []bridgev2.LoginInputDataField{{
			Type: bridgev2.LoginInputFieldType2FACode, ID: "code", Name: "Login code",
		}}},
	}, nil
}

func (pl *PhoneLogin) submitCode(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	code := strings.TrimSpace(input["code"])
	if code == "" {
		return nil, fmt.Errorf("the login code is empty: enter the code Telegram sent you")
	}
	res, err := pl.conn.client.Auth().SignIn(ctx, pl.phone, code, pl.codeHash)
	switch {
	case errors.Is(err, auth.ErrPasswordAuthNeeded):
		pl.awaitingPassword = true
		return passwordStep(passwordHint(ctx, pl.conn.client.API())), nil
	case tgerr.Is(err, "PHONE_CODE_INVALID"):
		return nil, bridgev2.RespError{ErrCode: "FI.PASSERELLE.TG_CODE_INVALID", Err: "Wrong login code, try again.", StatusCode: 400}
	case tgerr.Is(err, "PHONE_CODE_EXPIRED"):
		pl.Cancel()
		return nil, bridgev2.RespError{ErrCode: "FI.PASSERELLE.TG_CODE_EXPIRED", Err: "The login code expired: start the login again.", StatusCode: 400}
	case errors.As(err, new(*auth.SignUpRequired)):
		pl.Cancel()
		return nil, fmt.Errorf("no Telegram account uses %s: sign up in a Telegram app first", pl.phone)
	case err != nil:
		return nil, fmt.Errorf("sign in to Telegram: %w", err)
	}
	return pl.finish(ctx, res, false)
}

func normalizePhone(p string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, p)
}

// QRLogin is the telegram-qr flow: a tg://login URL shown as a QR code, renewed until a logged
// in Telegram app scans it, then the cloud password if set.
type QRLogin struct {
	baseLogin
	tokens   chan qrlogin.Token
	result   chan error
	auth     *tg.AuthAuthorization
	needs2FA bool
}

var (
	_ bridgev2.LoginProcessDisplayAndWait = (*QRLogin)(nil)
	_ bridgev2.LoginProcessUserInput      = (*QRLogin)(nil)
)

func (ql *QRLogin) Start(ctx context.Context) (*bridgev2.LoginStep, error) {
	d := tg.NewUpdateDispatcher()
	// gotd's qrlogin.OnLoginToken sends on an unbuffered channel from the update handler, which
	// blocks updates until Auth reads it; a buffered channel of our own never blocks.
	loggedIn := make(chan struct{}, 1)
	d.OnLoginToken(func(ctx context.Context, e tg.Entities, u *tg.UpdateLoginToken) error {
		select {
		case loggedIn <- struct{}{}:
		default:
		}
		return nil
	})
	conn, err := ql.main.dialAuth(ql.log, d)
	if err != nil {
		return nil, err
	}
	ql.mu.Lock()
	ql.conn = conn
	ql.mu.Unlock()
	ql.tokens = make(chan qrlogin.Token, 1)
	ql.result = make(chan error, 1)
	runCtx, cancel := context.WithTimeout(context.Background(), LoginTimeout)
	go func() {
		defer cancel()
		res, err := conn.client.QR().Auth(runCtx, qrlogin.LoggedIn(loggedIn), func(ctx context.Context, token qrlogin.Token) error {
			select {
			case <-ql.tokens:
			default:
			}
			ql.tokens <- token
			return nil
		})
		if err == nil {
			ql.auth = res
		} else if tgerr.Is(err, "SESSION_PASSWORD_NEEDED") {
			ql.needs2FA, err = true, nil
		}
		ql.result <- err
	}()
	return ql.Wait(ctx)
}

func qrStep(token qrlogin.Token) *bridgev2.LoginStep {
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeDisplayAndWait,
		StepID:       StepQR,
		Instructions: "Scan this QR code with Telegram on a phone that is already logged in: Settings → Devices → Link Desktop Device. It is renewed until you scan it.",
		DisplayAndWaitParams: &bridgev2.LoginDisplayAndWaitParams{
			Type: bridgev2.LoginDisplayTypeQR,
			Data: token.URL(),
		},
	}
}

// Wait returns the next QR code when the current one expires, or the next step once scanned.
func (ql *QRLogin) Wait(ctx context.Context) (*bridgev2.LoginStep, error) {
	select {
	case token := <-ql.tokens:
		return qrStep(token), nil
	case err := <-ql.result:
		if err != nil {
			ql.Cancel()
			return nil, fmt.Errorf("QR login: %w", err)
		}
		if ql.needs2FA {
			return passwordStep(passwordHint(ctx, ql.conn.client.API())), nil
		}
		return ql.finish(ctx, ql.auth, false)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (ql *QRLogin) SubmitUserInput(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	if !ql.needs2FA {
		return nil, fmt.Errorf("no input expected before the QR code is scanned")
	}
	return ql.submitPassword(ctx, input)
}

// BotLogin is the telegram-bot flow.
type BotLogin struct{ baseLogin }

var _ bridgev2.LoginProcessUserInput = (*BotLogin)(nil)

func (bl *BotLogin) Start(ctx context.Context) (*bridgev2.LoginStep, error) {
	return &bridgev2.LoginStep{
		Type:         bridgev2.LoginStepTypeUserInput,
		StepID:       StepBotToken,
		Instructions: "Enter the token @BotFather gave your bot (it looks like 123456:ABC-DEF…).",
		UserInputParams: &bridgev2.LoginUserInputParams{Fields: []bridgev2.LoginInputDataField{{
			Type: bridgev2.LoginInputFieldTypeToken, ID: "token", Name: "Bot token", Pattern: `^\d+:[A-Za-z0-9_-]+$`,
		}}},
	}, nil
}

func (bl *BotLogin) SubmitUserInput(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	token := strings.TrimSpace(input["token"])
	if id, rest, ok := strings.Cut(token, ":"); !ok || normalizePhone(id) != id || id == "" || rest == "" {
		return nil, fmt.Errorf("%q is not a bot token: it looks like 123456:ABC-DEF…, as @BotFather gives it", token)
	}
	conn, err := bl.main.dialAuth(bl.log, nil)
	if err != nil {
		return nil, err
	}
	bl.mu.Lock()
	bl.conn = conn
	bl.mu.Unlock()
	res, err := conn.client.Auth().Bot(ctx, token)
	if err != nil {
		bl.Cancel()
		if tgerr.Is(err, "ACCESS_TOKEN_INVALID", "ACCESS_TOKEN_EXPIRED") {
			return nil, bridgev2.RespError{ErrCode: "FI.PASSERELLE.TG_BOT_TOKEN_INVALID", Err: "Telegram refused this bot token; copy it again from @BotFather.", StatusCode: 400}
		}
		return nil, fmt.Errorf("log in as bot: %w", err)
	}
	return bl.finish(ctx, res, true)
}

// CreateLogin starts one of the three login flows.
func (tc *Connector) CreateLogin(ctx context.Context, user *bridgev2.User, flowID string) (bridgev2.LoginProcess, error) {
	if !tc.Config.HasAPICredentials() {
		return nil, fmt.Errorf("telegram login is not set up on this bridge: the operator must set network.telegram.api_id and api_hash (from https://my.telegram.org/apps)")
	}
	if err := tc.waitStarted(ctx); err != nil {
		return nil, err
	}
	base := func() baseLogin {
		return baseLogin{main: tc, user: user, flow: flowID,
			log: user.Log.With().Str("component", "telegram_login").Str("flow", flowID).Logger()}
	}
	switch flowID {
	case FlowPhone:
		return &PhoneLogin{baseLogin: base()}, nil
	case FlowQR:
		return &QRLogin{baseLogin: base()}, nil
	case FlowBot:
		return &BotLogin{baseLogin: base()}, nil
	default:
		return nil, fmt.Errorf("unknown Telegram login flow %q: use %s, %s or %s", flowID, FlowPhone, FlowQR, FlowBot)
	}
}
