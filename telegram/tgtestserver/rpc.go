package tgtestserver

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/gotd/td/bin"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/gotd/td/tgtest"
)

// caller is the request context every TL handler sees: which session asked
// and which account (if any) its auth key is logged in as.
type caller struct {
	sess   tgtest.Session
	keyID  [8]byte
	userID int64
}

type callerKey struct{}

func callerFrom(ctx context.Context) *caller {
	c, _ := ctx.Value(callerKey{}).(*caller)
	if c == nil {
		return &caller{}
	}
	return c
}

var (
	errAuthKeyUnregistered = tgerr.New(401, "AUTH_KEY_UNREGISTERED")
	errMethodInvalid       = tgerr.New(400, "INPUT_METHOD_INVALID")
	errInternal            = tgerr.New(500, "INTERNAL_SERVER_ERROR")
)

// methodNames maps TL type IDs to names such as "messages.sendMessage" and
// back, for logs and for FLOOD_WAIT injection by name.
var methodNames, methodIDs = func() (map[uint32]string, map[string]uint32) {
	names := map[uint32]string{}
	ids := map[string]uint32{}
	for id, full := range tg.TypesMap() {
		name, _, _ := strings.Cut(full, "#")
		names[id] = name
		ids[name] = id
	}
	return names, ids
}()

// unauthenticated lists the methods an auth key may call before login.
var unauthenticated = map[uint32]bool{
	tg.HelpGetConfigRequestTypeID:              true,
	tg.HelpGetNearestDCRequestTypeID:           true,
	tg.AuthSendCodeRequestTypeID:               true,
	tg.AuthResendCodeRequestTypeID:             true,
	tg.AuthCancelCodeRequestTypeID:             true,
	tg.AuthSignInRequestTypeID:                 true,
	tg.AuthSignUpRequestTypeID:                 true,
	tg.AuthCheckPasswordRequestTypeID:          true,
	tg.AuthImportBotAuthorizationRequestTypeID: true,
	tg.AuthExportLoginTokenRequestTypeID:       true,
	tg.AuthImportLoginTokenRequestTypeID:       true,
	tg.AccountGetPasswordRequestTypeID:         true,
	tg.AuthLogOutRequestTypeID:                 true,
	tg.LangpackGetLangPackRequestTypeID:        true,
	tg.LangpackGetStringsRequestTypeID:         true,
	tg.HelpGetAppConfigRequestTypeID:           true,
}

// onMessage is the tgtest handler: it records the session, applies injected
// flood waits and the login check, runs the typed handler and answers.
func (s *Server) onMessage(mt *tgtest.Server, req *tgtest.Request) error {
	id, err := req.Buf.PeekID()
	if err != nil {
		return fmt.Errorf("peek request type: %w", err)
	}
	keyID, userID := s.sessions.touch(req.Session)
	name := methodNames[id]
	if name == "" {
		name = fmt.Sprintf("#%08x", id)
	}
	if fw := s.flood.take(id); fw != nil {
		s.log.Debug().Str("method", name).Msg("Injected flood wait")
		return mt.SendErr(req, fw)
	}
	if userID == 0 && !unauthenticated[id] {
		return mt.SendErr(req, errAuthKeyUnregistered)
	}
	ctx := context.WithValue(req.RequestCtx, callerKey{}, &caller{sess: req.Session, keyID: keyID, userID: userID})
	res, err := s.dispatcher().Handle(ctx, req.Buf)
	if err != nil {
		var rpcErr *tgerr.Error
		if errors.As(err, &rpcErr) {
			if rpcErr.Type == errMethodInvalid.Type {
				s.log.Warn().Str("method", name).Msg("Method not implemented by the test server")
			} else {
				s.log.Debug().Str("method", name).Str("error", rpcErr.Message).Msg("RPC error")
			}
			return mt.SendErr(req, rpcErr)
		}
		s.log.Error().Err(err).Str("method", name).Msg("Handler failed")
		return mt.SendErr(req, errInternal)
	}
	// Encode once here: a nil required field fails inside tgtest without a
	// trace, and would drop the whole connection.
	var b bin.Buffer
	if err := res.Encode(&b); err != nil {
		s.log.Error().Err(err).Str("method", name).Msg("Encoding the result failed")
		return mt.SendErr(req, errInternal)
	}
	return mt.SendResult(req, rawResult(b.Buf))
}

// rawResult sends bytes that were already encoded.
type rawResult []byte

func (r rawResult) Encode(b *bin.Buffer) error {
	b.Put(r)
	return nil
}

// dispatcher builds the typed TL dispatcher once.
func (s *Server) dispatcher() *tg.ServerDispatcher {
	s.dispatchOnce.Do(func() {
		d := tg.NewServerDispatcher(func(context.Context, *bin.Buffer) (bin.Encoder, error) {
			return nil, errMethodInvalid
		})
		s.registerHelp(d)
		s.registerAuth(d)
		s.registerUsers(d)
		s.registerUpdates(d)
		s.registerMessages(d)
		s.registerChats(d)
		s.registerFiles(d)
		s.registerProfile(d)
		s.registerForward(d)
		s.registerPolls(d)
		s.disp = d
	})
	return s.disp
}

// floodInjector makes chosen methods answer FLOOD_WAIT_X a number of times.
type floodInjector struct {
	mu    sync.Mutex
	rules map[uint32]*floodRule
}

type floodRule struct {
	seconds int
	left    int
}

func newFloodInjector() *floodInjector { return &floodInjector{rules: map[uint32]*floodRule{}} }

func (f *floodInjector) take(id uint32) *tgerr.Error {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.rules[id]
	if r == nil || r.left == 0 {
		return nil
	}
	r.left--
	return tgerr.New(420, fmt.Sprintf("FLOOD_WAIT_%d", r.seconds))
}

// InjectFloodWait makes the next `times` calls of method (a TL method name
// such as "messages.sendMessage") fail with FLOOD_WAIT_<seconds>. times 0
// clears the rule.
func (s *Server) InjectFloodWait(method string, seconds, times int) error {
	id, ok := methodIDs[method]
	if !ok {
		return fmt.Errorf("tgtestserver: unknown TL method %q: use a name like \"messages.sendMessage\"", method)
	}
	if seconds < 0 || times < 0 {
		return fmt.Errorf("tgtestserver: flood wait for %s needs seconds >= 0 and times >= 0, got %d and %d", method, seconds, times)
	}
	s.flood.mu.Lock()
	defer s.flood.mu.Unlock()
	if times == 0 {
		delete(s.flood.rules, id)
		return nil
	}
	s.flood.rules[id] = &floodRule{seconds: seconds, left: times}
	return nil
}

// FloodWaitsLeft tells how many injected flood waits method still has.
func (s *Server) FloodWaitsLeft(method string) int {
	s.flood.mu.Lock()
	defer s.flood.mu.Unlock()
	if r := s.flood.rules[methodIDs[method]]; r != nil {
		return r.left
	}
	return 0
}
