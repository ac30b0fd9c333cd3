package tgtestserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
)

var (
	errPhoneInvalid      = tgerr.New(400, "PHONE_NUMBER_INVALID")
	errPhoneCodeInvalid  = tgerr.New(400, "PHONE_CODE_INVALID")
	errPhoneCodeExpired  = tgerr.New(400, "PHONE_CODE_EXPIRED")
	errPhoneCodeEmpty    = tgerr.New(400, "PHONE_CODE_EMPTY")
	errPhoneHashEmpty    = tgerr.New(400, "PHONE_CODE_HASH_EMPTY")
	errPasswordNeeded    = tgerr.New(401, "SESSION_PASSWORD_NEEDED")
	errPasswordInvalid   = tgerr.New(400, "PASSWORD_HASH_INVALID")
	errSRPIDInvalid      = tgerr.New(400, "SRP_ID_INVALID")
	errAPIIDInvalid      = tgerr.New(400, "API_ID_INVALID")
	errBotTokenInvalid   = tgerr.New(400, "ACCESS_TOKEN_INVALID")
	errAuthTokenExpired  = tgerr.New(400, "AUTH_TOKEN_EXPIRED")
	errAuthTokenInvalid  = tgerr.New(400, "AUTH_TOKEN_INVALID")
	errFirstNameInvalid  = tgerr.New(400, "FIRSTNAME_INVALID")
	errPhoneNotOccupied  = tgerr.New(400, "PHONE_NOT_OCCUPIED")
	errUsernameNotOccup  = tgerr.New(400, "USERNAME_NOT_OCCUPIED")
	errHashInvalid       = tgerr.New(400, "HASH_INVALID")
	errPasswordMissing   = tgerr.New(400, "PASSWORD_EMPTY")
	codeLifetime         = 5 * time.Minute
	loginTokenLifetime   = 30 * time.Second
	passwordPendingLimit = 10 * time.Minute
)

// pendingCode is a login code sent to a phone.
type pendingCode struct {
	phone   string
	code    string
	hash    string
	expires time.Time
}

// loginToken is a QR login token exported by a not-yet-logged-in key.
type loginToken struct {
	token      []byte
	keyID      [8]byte
	expires    time.Time
	acceptedBy int64
}

// passwordWait remembers that a key passed the code (or QR) step and now
// owes the 2FA password of an account.
type passwordWait struct {
	userID  int64
	expires time.Time
}

func (s *Server) registerHelp(d *tg.ServerDispatcher) {
	d.OnHelpGetConfig(func(ctx context.Context) (*tg.Config, error) {
		now := s.unix()
		return &tg.Config{
			Date:                 now,
			Expires:              now + 3600,
			ThisDC:               s.opts.DC,
			DCOptions:            s.DCOptions(),
			DCTxtDomainName:      "localhost",
			ChatSizeMax:          200,
			MegagroupSizeMax:     200000,
			ForwardedCountMax:    100,
			OnlineUpdatePeriodMs: 210000,
			OfflineBlurTimeoutMs: 5000,
			OfflineIdleTimeoutMs: 30000,
			OnlineCloudTimeoutMs: 300000,
			NotifyCloudDelayMs:   30000,
			NotifyDefaultDelayMs: 1500,
			PushChatPeriodMs:     60000,
			PushChatLimit:        2,
			EditTimeLimit:        172800,
			RevokeTimeLimit:      2147483647,
			RevokePmTimeLimit:    2147483647,
			RatingEDecay:         2419200,
			StickersRecentLimit:  200,
			TmpSessions:          0,
			CallReceiveTimeoutMs: 20000,
			CallRingTimeoutMs:    90000,
			CallConnectTimeoutMs: 30000,
			CallPacketTimeoutMs:  10000,
			MeURLPrefix:          "https://t.me/",
			CaptionLengthMax:     1024,
			MessageLengthMax:     4096,
			WebfileDCID:          s.opts.DC,
			ReactionsDefault:     &tg.ReactionEmoji{Emoticon: "👍"},
		}, nil
	})
	d.OnHelpGetNearestDC(func(ctx context.Context) (*tg.NearestDC, error) {
		return &tg.NearestDC{Country: "FR", ThisDC: s.opts.DC, NearestDC: s.opts.DC}, nil
	})
}

func randomDigits(n int) string {
	out := make([]byte, n)
	for i := range out {
		d, _ := rand.Int(rand.Reader, big.NewInt(10))
		out[i] = byte('0' + d.Int64())
	}
	return string(out)
}

func (st *store) authorization(a *account) *tg.AuthAuthorization {
	return &tg.AuthAuthorization{User: st.renderUser(a.id, a.id)}
}

// login binds the caller's auth key to a.
func (st *store) login(ctx context.Context, a *account) *tg.AuthAuthorization {
	c := callerFrom(ctx)
	st.srv.sessions.bind(c.keyID, a.id)
	delete(st.passwordWaits, c.keyID)
	st.srv.log.Info().Int64("user_id", a.id).Str("key", keyHex(c.keyID)).Msg("Logged in")
	return st.authorization(a)
}

// passwordGate returns SESSION_PASSWORD_NEEDED when a has 2FA, remembering
// that the key owes the password; otherwise it logs the key in.
func (st *store) passwordGate(ctx context.Context, a *account) (*tg.AuthAuthorization, error) {
	if a.password != nil {
		st.passwordWaits[callerFrom(ctx).keyID] = passwordWait{userID: a.id, expires: st.srv.now().Add(passwordPendingLimit)}
		return nil, errPasswordNeeded
	}
	return st.login(ctx, a), nil
}

func (s *Server) registerAuth(d *tg.ServerDispatcher) {
	st := s.state
	d.OnAuthSendCode(func(ctx context.Context, req *tg.AuthSendCodeRequest) (tg.AuthSentCodeClass, error) {
		if req.APIID <= 0 || req.APIHash == "" {
			return nil, errAPIIDInvalid
		}
		phone := normalizePhone(req.PhoneNumber)
		if len(phone) < 5 || len(phone) > 15 {
			return nil, errPhoneInvalid
		}
		var out tg.AuthSentCodeClass
		err := st.do(func(t *tx) error {
			p := &pendingCode{
				phone:   phone,
				code:    randomDigits(s.opts.CodeLength),
				hash:    hexID(randomBytes(8)),
				expires: s.now().Add(codeLifetime),
			}
			st.codes[p.hash] = p
			st.lastCodes[phone] = p.code
			out = &tg.AuthSentCode{
				Type:          &tg.AuthSentCodeTypeApp{Length: s.opts.CodeLength},
				PhoneCodeHash: p.hash,
				Timeout:       60,
			}
			return nil
		})
		s.log.Info().Str("phone", phone).Msg("Login code sent")
		if err == nil && s.opts.OnCode != nil {
			code, _ := s.LastCode(phone)
			s.opts.OnCode(phone, code)
		}
		return out, err
	})
	d.OnAuthResendCode(func(ctx context.Context, req *tg.AuthResendCodeRequest) (tg.AuthSentCodeClass, error) {
		var out tg.AuthSentCodeClass
		err := st.do(func(t *tx) error {
			p := st.codes[req.PhoneCodeHash]
			if p == nil || p.phone != normalizePhone(req.PhoneNumber) {
				return errPhoneCodeExpired
			}
			p.expires = s.now().Add(codeLifetime)
			out = &tg.AuthSentCode{Type: &tg.AuthSentCodeTypeApp{Length: len(p.code)}, PhoneCodeHash: p.hash, Timeout: 60}
			return nil
		})
		return out, err
	})
	d.OnAuthCancelCode(func(ctx context.Context, req *tg.AuthCancelCodeRequest) (bool, error) {
		_ = st.do(func(t *tx) error { delete(st.codes, req.PhoneCodeHash); return nil })
		return true, nil
	})
	d.OnAuthSignIn(func(ctx context.Context, req *tg.AuthSignInRequest) (tg.AuthAuthorizationClass, error) {
		var out tg.AuthAuthorizationClass
		err := st.do(func(t *tx) error {
			p, err := st.checkCode(req.PhoneNumber, req.PhoneCodeHash, req.PhoneCode)
			if err != nil {
				return err
			}
			a := st.byPhone[p.phone]
			if a == nil {
				out = &tg.AuthAuthorizationSignUpRequired{}
				return nil
			}
			delete(st.codes, p.hash)
			res, err := st.passwordGate(ctx, a)
			if err != nil {
				return err
			}
			out = res
			return nil
		})
		return out, err
	})
	d.OnAuthSignUp(func(ctx context.Context, req *tg.AuthSignUpRequest) (tg.AuthAuthorizationClass, error) {
		var out tg.AuthAuthorizationClass
		err := st.do(func(t *tx) error {
			p := st.codes[req.PhoneCodeHash]
			if p == nil || p.phone != normalizePhone(req.PhoneNumber) {
				return errPhoneCodeExpired
			}
			if req.FirstName == "" {
				return errFirstNameInvalid
			}
			a, err := st.createAccount(UserSpec{Phone: p.phone, FirstName: req.FirstName, LastName: req.LastName})
			if err != nil {
				return err
			}
			delete(st.codes, p.hash)
			out = st.login(ctx, a)
			return nil
		})
		return out, err
	})
	d.OnAccountGetPassword(func(ctx context.Context) (*tg.AccountPassword, error) {
		var out *tg.AccountPassword
		err := st.do(func(t *tx) error {
			a := st.passwordAccount(ctx)
			out = &tg.AccountPassword{
				NewAlgo: &tg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{
					Salt1: randomBytes(8), Salt2: randomBytes(16), G: srpG, P: srpPrime.Bytes(),
				},
				NewSecureAlgo: &tg.SecurePasswordKdfAlgoSHA512{Salt: randomBytes(8)},
				SecureRandom:  randomBytes(256),
			}
			if a == nil || a.password == nil {
				return nil
			}
			id, gb, err := a.password.begin()
			if err != nil {
				return err
			}
			out.HasPassword = true
			out.CurrentAlgo = a.password.algo()
			out.SRPB = gb
			out.SRPID = id
			out.Hint = a.password.hint
			return nil
		})
		return out, err
	})
	d.OnAuthCheckPassword(func(ctx context.Context, in tg.InputCheckPasswordSRPClass) (tg.AuthAuthorizationClass, error) {
		var out tg.AuthAuthorizationClass
		err := st.do(func(t *tx) error {
			a := st.passwordAccount(ctx)
			if a == nil || a.password == nil {
				return errPasswordMissing
			}
			srpIn, ok := in.(*tg.InputCheckPasswordSRP)
			if !ok {
				return errPasswordMissing
			}
			if a.password.pending[srpIn.SRPID] == nil {
				return errSRPIDInvalid
			}
			if !a.password.check(srpIn.SRPID, srpIn.A, srpIn.M1) {
				return errPasswordInvalid
			}
			out = st.login(ctx, a)
			return nil
		})
		return out, err
	})
	d.OnAuthImportBotAuthorization(func(ctx context.Context, req *tg.AuthImportBotAuthorizationRequest) (tg.AuthAuthorizationClass, error) {
		if req.APIID <= 0 || req.APIHash == "" {
			return nil, errAPIIDInvalid
		}
		var out tg.AuthAuthorizationClass
		err := st.do(func(t *tx) error {
			a := st.byBotToken[req.BotAuthToken]
			if a == nil {
				return errBotTokenInvalid
			}
			out = st.login(ctx, a)
			return nil
		})
		return out, err
	})
	d.OnAuthLogOut(func(ctx context.Context) (*tg.AuthLoggedOut, error) {
		c := callerFrom(ctx)
		s.sessions.bind(c.keyID, 0)
		s.log.Info().Int64("user_id", c.userID).Msg("Logged out")
		return &tg.AuthLoggedOut{}, nil
	})
	d.OnAuthExportLoginToken(func(ctx context.Context, req *tg.AuthExportLoginTokenRequest) (tg.AuthLoginTokenClass, error) {
		if req.APIID <= 0 || req.APIHash == "" {
			return nil, errAPIIDInvalid
		}
		var out tg.AuthLoginTokenClass
		err := st.do(func(t *tx) error {
			c := callerFrom(ctx)
			if a := st.users[c.userID]; a != nil {
				out = &tg.AuthLoginTokenSuccess{Authorization: st.authorization(a)}
				return nil
			}
			for k, tok := range st.loginTokens {
				if tok.keyID != c.keyID {
					continue
				}
				if tok.acceptedBy != 0 {
					delete(st.loginTokens, k)
					a := st.users[tok.acceptedBy]
					res, err := st.passwordGate(ctx, a)
					if err != nil {
						return err
					}
					out = &tg.AuthLoginTokenSuccess{Authorization: res}
					return nil
				}
				if s.now().After(tok.expires) {
					delete(st.loginTokens, k)
				}
			}
			tok := &loginToken{token: randomBytes(32), keyID: c.keyID, expires: s.now().Add(loginTokenLifetime)}
			st.loginTokens[string(tok.token)] = tok
			out = &tg.AuthLoginToken{Expires: int(tok.expires.Unix()), Token: tok.token}
			return nil
		})
		return out, err
	})
	d.OnAuthImportLoginToken(func(ctx context.Context, token []byte) (tg.AuthLoginTokenClass, error) {
		var out tg.AuthLoginTokenClass
		err := st.do(func(t *tx) error {
			tok := st.loginTokens[string(token)]
			if tok == nil || tok.acceptedBy == 0 {
				return errAuthTokenInvalid
			}
			delete(st.loginTokens, string(token))
			res, err := st.passwordGate(ctx, st.users[tok.acceptedBy])
			if err != nil {
				return err
			}
			out = &tg.AuthLoginTokenSuccess{Authorization: res}
			return nil
		})
		return out, err
	})
	d.OnAuthAcceptLoginToken(func(ctx context.Context, token []byte) (*tg.Authorization, error) {
		return s.acceptLoginToken(callerFrom(ctx).userID, token)
	})
	d.OnAccountGetAuthorizations(func(ctx context.Context) (*tg.AccountAuthorizations, error) {
		c := callerFrom(ctx)
		out := &tg.AccountAuthorizations{AuthorizationTTLDays: 180}
		for _, k := range s.sessions.authorizations(c.userID) {
			out.Authorizations = append(out.Authorizations, *s.state.renderAuthorization(k.keyID, k.hash, k.created, k.keyID == c.keyID))
		}
		return out, nil
	})
	d.OnAccountResetAuthorization(func(ctx context.Context, hash int64) (bool, error) {
		c := callerFrom(ctx)
		n := s.sessions.revoke(func(k *authKeyState) bool {
			return k.userID == c.userID && k.hash == hash && k.keyID != c.keyID
		})
		if n == 0 {
			return false, errHashInvalid
		}
		return true, nil
	})
	d.OnAuthResetAuthorizations(func(ctx context.Context) (bool, error) {
		c := callerFrom(ctx)
		s.sessions.revoke(func(k *authKeyState) bool { return k.userID == c.userID && k.keyID != c.keyID })
		return true, nil
	})
}

// acceptLoginToken lets account userID accept a QR login token: the
// exporting key gets updateLoginToken and its next exportLoginToken logs in.
func (s *Server) acceptLoginToken(userID int64, token []byte) (*tg.Authorization, error) {
	st := s.state
	var out *tg.Authorization
	var target [8]byte
	err := st.do(func(t *tx) error {
		if st.users[userID] == nil {
			return errAuthKeyUnregistered
		}
		tok := st.loginTokens[string(token)]
		if tok == nil {
			return errAuthTokenInvalid
		}
		if s.now().After(tok.expires) {
			delete(st.loginTokens, string(token))
			return errAuthTokenExpired
		}
		tok.acceptedBy = userID
		target = tok.keyID
		out = st.renderAuthorization(tok.keyID, randomInt64(), s.now(), false)
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.sessions.pushKey(target, &tg.UpdateShort{Update: &tg.UpdateLoginToken{}, Date: s.unix()})
	return out, nil
}

// AcceptLoginURL accepts a QR login as the account, as scanning the code
// with its phone app would. url is the tg://login?token=… the client shows.
func (a *Actor) AcceptLoginURL(url string) error {
	rest, ok := strings.CutPrefix(url, "tg://login?token=")
	if !ok {
		return errf("AcceptLoginURL: %q is not a tg://login?token= URL", url)
	}
	token, err := base64.URLEncoding.WithPadding(base64.NoPadding).DecodeString(strings.TrimRight(rest, "="))
	if err != nil {
		return errf("AcceptLoginURL: token is not base64url: %w", err)
	}
	_, err = a.srv.acceptLoginToken(a.id, token)
	return describe("accept QR login", err)
}

func (st *store) renderAuthorization(keyID [8]byte, hash int64, created time.Time, current bool) *tg.Authorization {
	return &tg.Authorization{
		Current:       current,
		Hash:          hash,
		DeviceModel:   "gotd",
		Platform:      "go",
		SystemVersion: "linux",
		APIID:         1,
		AppName:       "Passerelle test client " + keyHex(keyID)[:6],
		AppVersion:    "1.0",
		DateCreated:   int(created.Unix()),
		DateActive:    st.srv.unix(),
		IP:            "127.0.0.1",
		Country:       "Localhost",
		Region:        "Loopback",
	}
}

// passwordAccount is the account whose 2FA the caller is dealing with: the
// logged-in account, or the one the key owes a password to.
func (st *store) passwordAccount(ctx context.Context) *account {
	c := callerFrom(ctx)
	if a := st.users[c.userID]; a != nil {
		return a
	}
	w, ok := st.passwordWaits[c.keyID]
	if !ok || st.srv.now().After(w.expires) {
		return nil
	}
	return st.users[w.userID]
}

func (st *store) checkCode(phone, hash, code string) (*pendingCode, error) {
	if hash == "" {
		return nil, errPhoneHashEmpty
	}
	if code == "" {
		return nil, errPhoneCodeEmpty
	}
	p := st.codes[hash]
	if p == nil || p.phone != normalizePhone(phone) || st.srv.now().After(p.expires) {
		return nil, errPhoneCodeExpired
	}
	if p.code != code {
		return nil, errPhoneCodeInvalid
	}
	return p, nil
}

// LastCode is the last login code sent to phone (any formatting), as the
// Telegram app of that phone would show it.
func (s *Server) LastCode(phone string) (string, bool) {
	s.state.mu.Lock()
	defer s.state.mu.Unlock()
	c, ok := s.state.lastCodes[normalizePhone(phone)]
	return c, ok
}

// RevokeSessions logs out every auth key of the account and cuts their
// connections: their clients then get AUTH_KEY_UNREGISTERED, as after
// "terminate all sessions" on a phone. It returns how many were revoked.
func (s *Server) RevokeSessions(userID int64) int {
	return s.sessions.revoke(func(k *authKeyState) bool { return k.userID == userID })
}

// ConnectedSessions is how many MTProto sessions of the account are known to
// the server (useful to wait until a client is online before pushing).
func (s *Server) ConnectedSessions(userID int64) int {
	return s.sessions.connected(userID)
}

func errf(format string, args ...any) error { return fmt.Errorf("tgtestserver: "+format, args...) }
