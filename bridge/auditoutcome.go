package bridge

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/audit"
	"github.com/passerelle-bridge/passerelle/internal/mxconn"
	"github.com/passerelle-bridge/passerelle/portal"
)

// initAuditHooks puts the audit where bridgev2 turns requests away before any command or
// connector code runs: the provisioning API's auth (a middleware on the appservice listener,
// applied when the listener starts) and the permission check on Matrix messages (a second
// handler for m.room.message beside bridgev2's).
func (c *Connector) initAuditHooks() {
	mc, ok := mxconn.Of(c.Bridge.Matrix)
	if !ok || mc.AS == nil || mc.EventProcessor == nil {
		return
	}
	mc.AS.Middleware = append(mc.AS.Middleware, c.auditProvisioning)
	mc.EventProcessor.On(event.EventMessage, c.auditRefusedCommand)
}

// auditedHandler wraps a bridgev2 command so its audit entry says how it ended: refused (the
// handler's own requirements or its permission checks said no), failed, or ok.
type auditedHandler struct {
	*commands.FullHandler
	c *Connector
}

// replySafe are the audited commands whose replies never echo user input that could be secret,
// so a refusal or failure reply can go into the entry as it is. Login replies can repeat
// submitted field values, and sudo/doin run any command.
var replySafe = map[string]bool{
	"set-relay": true, "unset-relay": true, "logout": true, "set-preferred-login": true,
	"delete-portal": true, "delete-all-portals": true, "debug-reset-network": true,
}

func (h *auditedHandler) Run(ce *commands.Event) {
	entry := h.c.commandEntry(ce, h.Name)
	ran := false
	var rec *replyRecorder
	inner := *h.FullHandler
	inner.Func = func(ce *commands.Event) {
		ran = true
		// sudo and doin hand ce (and its Bot) to another command, which may type-assert the
		// bot intent; the command they run is audited by its own wrapper.
		if h.Name != commands.CommandSudo.Name && h.Name != commands.CommandDoIn.Name {
			rec = &replyRecorder{MatrixAPI: ce.Bot}
			ce.Bot = rec
		}
		defer func() {
			if p := recover(); p != nil {
				entry.Outcome, entry.Details["reason"] = audit.OutcomeFailed, "the command crashed"
				_ = h.c.Audit.Record(ce.Ctx, entry)
				panic(p)
			}
		}()
		h.FullHandler.Func(ce)
	}
	inner.Run(ce)
	var reason string
	switch {
	case !ran:
		entry.Outcome, reason = h.requirementRefusal(ce)
	case rec != nil:
		var reply string
		entry.Outcome, reply = classifyReplies(rec.Replies())
		if entry.Outcome != audit.OutcomeOK {
			reason = "see the bot's reply"
			if replySafe[h.Name] {
				reason = reply
			} else if entry.Outcome == audit.OutcomeRefused {
				reason = "the command's permission check"
			}
		}
	default:
		entry.Outcome = audit.OutcomeOK
	}
	if reason != "" {
		entry.Details["reason"] = reason
	}
	_ = h.c.Audit.Record(ce.Ctx, entry)
}

// requirementRefusal says which of FullHandler.Run's checks stopped the command: lacking a
// permission is a refusal, being in the wrong room or not logged in is a failure.
func (h *auditedHandler) requirementRefusal(ce *commands.Event) (outcome, reason string) {
	perms := ce.User.Permissions
	switch {
	case h.RequiresAdmin && !perms.Admin:
		return audit.OutcomeRefused, "bridge admins only"
	case h.RequiresLoginPermission && !perms.Login:
		return audit.OutcomeRefused, "no login permission"
	case h.RequiresPortal && ce.Portal == nil:
		return audit.OutcomeFailed, "not a portal room"
	case h.RequiresLogin && ce.User.GetDefaultLogin() == nil:
		return audit.OutcomeFailed, "not logged in"
	case h.RequiresEventLevel.Type != "":
		return audit.OutcomeRefused, "room power level too low"
	}
	return audit.OutcomeFailed, "refused by the command's requirements"
}

// commandEntry is the entry of a command with the arguments that are never secret: a flow ID
// or a login ID.
func (c *Connector) commandEntry(ce *commands.Event, name string) audit.Entry {
	entry := audit.Entry{Actor: string(ce.User.MXID), Action: "command:" + name, Target: string(ce.RoomID), Details: map[string]string{}}
	if ce.Sudo {
		entry.Details["sudo"] = "true"
	}
	if len(ce.Args) == 0 {
		return entry
	}
	arg := ce.Args[0]
	n, netErr := portal.NetworkOf(arg)
	switch name {
	case "login", "logout", "relogin", "set-preferred-login":
		if netErr == nil {
			entry.Network, entry.Target = string(n), arg
		} else if c.isFlowID(arg) {
			entry.Details["flow"] = arg
		}
	case "set-relay":
		// The target stays the room; the login asked to relay is a detail.
		if netErr == nil {
			entry.Network, entry.Details["relay_login"] = string(n), arg
		}
	}
	return entry
}

// replyRecorder keeps the text of the notices a command sends, to tell its outcome.
type replyRecorder struct {
	bridgev2.MatrixAPI
	mu      sync.Mutex
	replies []string
}

func (r *replyRecorder) SendMessage(ctx context.Context, roomID id.RoomID, eventType event.Type, content *event.Content, extra *bridgev2.MatrixSendExtra) (*mautrix.RespSendEvent, error) {
	if m, ok := content.Parsed.(*event.MessageEventContent); ok && m.MsgType == event.MsgNotice {
		r.mu.Lock()
		r.replies = append(r.replies, m.Body)
		r.mu.Unlock()
	}
	return r.MatrixAPI.SendMessage(ctx, roomID, eventType, content, extra)
}

// Replies returns the notices sent so far.
func (r *replyRecorder) Replies() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.replies...)
}

// The replies of bridgev2's audited commands (mautrix v0.32.0) that mean they refused or failed.
// bridgev2 gives commands no result value, so the reply is the only account of how one ended.
var (
	refusalPhrases = []string{
		"permission", "not allowed", "only bridge admins", "limited to bridge administrators",
		"does not allow relay mode", "must be in the target room", "requires room admin rights",
	}
	failurePrefixes = []string{
		"usage", "failed", "invalid", "unknown", "unsupported", "login failed", "login `",
		"user login with id", "user not found", "no login flows", "you already have",
		"you're not logged in", "this portal doesn't have", "none of the default",
		"in split portals", "please specify", "\u26a0", "this login flow requires",
		"missing some keys", "input is not valid",
	}
)

// classifyReplies tells a command's outcome from its replies, and the reply that decided it.
func classifyReplies(replies []string) (outcome, reply string) {
	for _, r := range replies {
		lower := strings.ToLower(r)
		for _, p := range refusalPhrases {
			if strings.Contains(lower, p) {
				return audit.OutcomeRefused, r
			}
		}
	}
	for _, r := range replies {
		lower := strings.ToLower(strings.TrimSpace(r))
		for _, p := range failurePrefixes {
			if strings.HasPrefix(lower, p) {
				return audit.OutcomeFailed, r
			}
		}
	}
	return audit.OutcomeOK, ""
}

// knownCommands are the command names and aliases the bridge answers to: a refused message's
// first word goes into its entry only when it is one of them, since it could be anything the
// user typed after the prefix.
var knownCommands = func() map[string]bool {
	out := map[string]bool{"resolve-identifier": true, "start-chat": true, "pm": true, "audit-export": true, "import": true,
		"login-matrix": true, "ping-matrix": true, "logout-matrix": true, "set-pl": true, "discard-megolm-session": true}
	for _, h := range []*commands.FullHandler{
		commands.CommandHelp, commands.CommandCancel, commands.CommandRegisterPush, commands.CommandSendAccountData,
		commands.CommandResetNetwork, commands.CommandDeletePortal, commands.CommandDeleteAllPortals,
		commands.CommandSetManagementRoom, commands.CommandLogin, commands.CommandRelogin, commands.CommandListLogins,
		commands.CommandLogout, commands.CommandSetPreferredLogin, commands.CommandSetRelay, commands.CommandUnsetRelay,
		commands.CommandResolveIdentifier, commands.CommandStartChat, commands.CommandCreateGroup, commands.CommandSearch,
		commands.CommandCreatePortal, commands.CommandID, commands.CommandUnbridge, commands.CommandBridge,
		commands.CommandSyncChat, commands.CommandMute, commands.CommandDeleteChat, commands.CommandBlockUser,
		commands.CommandFilter, commands.CommandSudo, commands.CommandDoIn, commands.CommandImportImagePack,
	} {
		out[h.Name] = true
		for _, a := range h.Aliases {
			out[a] = true
		}
	}
	return out
}()

// auditRefusedCommand records commands that bridgev2 drops before the command processor because
// the sender may not use commands (relay level) or may not use the bridge at all (unlisted users,
// other homeservers). It runs beside bridgev2's handler and mirrors its test of what a command is:
// the command prefix, or any message in the sender's management room.
func (c *Connector) auditRefusedCommand(ctx context.Context, evt *event.Event) {
	if c.Audit == nil || evt.Sender == "" || evt.Sender == c.Bridge.Bot.GetMXID() || c.Bridge.IsGhostMXID(evt.Sender) {
		return
	}
	perms := c.Bridge.Config.Permissions.Get(evt.Sender)
	if perms.SendEvents && perms.Commands {
		return
	}
	msg, ok := evt.Content.Parsed.(*event.MessageEventContent)
	if !ok {
		return
	}
	plain := *msg
	plain.RemoveReplyFallback()
	body := plain.Body
	prefix := c.Bridge.Config.CommandPrefix
	if strings.HasPrefix(body, prefix) {
		body = strings.TrimPrefix(strings.TrimPrefix(body, prefix), " ")
	} else if user, err := c.Bridge.GetExistingUserByMXID(ctx, evt.Sender); err != nil || user == nil || user.ManagementRoom != evt.RoomID || user.ManagementRoom == "" {
		return
	}
	reason := "no permission to use commands"
	if !perms.SendEvents {
		reason = "no permission to use the bridge"
	}
	action := "command"
	if fields := strings.Fields(body); len(fields) > 0 && knownCommands[strings.ToLower(fields[0])] {
		action += ":" + strings.ToLower(fields[0])
	}
	_ = c.Audit.RecordRefusal(ctx, "command|"+string(evt.Sender)+"|"+reason, audit.Entry{
		Actor: string(evt.Sender), Action: action, Target: string(evt.RoomID),
		Details: map[string]string{"reason": reason, "event_id": string(evt.ID)},
	})
}

// provisioningPrefix is where bridgev2 mounts the provisioning API on the appservice listener.
const provisioningPrefix = "/_matrix/provision/"

// auditProvisioning records provisioning requests answered 401 or 403: a missing or wrong shared
// secret or Matrix token, a user without the login permission (which includes users of other
// homeservers), or an API switched off. It reads bridgev2's answer rather than repeating its
// checks, so it records exactly what bridgev2 refused. The actor is the user_id only when the
// request's credentials were accepted (403); with bad credentials it is unverified and kept as
// claimed_user. The Authorization header and the query string are never recorded.
func (c *Connector) auditProvisioning(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, provisioningPrefix) || c.Audit == nil {
			next.ServeHTTP(w, r)
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		if rec.status != http.StatusUnauthorized && rec.status != http.StatusForbidden {
			return
		}
		var body struct {
			ErrCode string `json:"errcode"`
			Error   string `json:"error"`
		}
		_ = json.Unmarshal(rec.body.Bytes(), &body)
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			host = r.RemoteAddr
		}
		userID := r.URL.Query().Get("user_id")
		details := map[string]string{
			"method": r.Method, "remote_addr": host, "status": http.StatusText(rec.status),
			"errcode": body.ErrCode, "reason": provisioningReason(body.ErrCode, body.Error),
		}
		if fwd := r.Header.Get("X-Forwarded-For"); fwd != "" {
			details["forwarded_for"] = fwd
		}
		actor := ""
		if rec.status == http.StatusForbidden && body.ErrCode == mautrix.MForbidden.ErrCode {
			actor = userID
		} else if userID != "" {
			details["claimed_user"] = userID
		}
		key := "provisioning|" + host + "|" + actor + "|" + details["claimed_user"] + "|" + body.ErrCode
		_ = c.Audit.RecordRefusal(r.Context(), key, audit.Entry{
			Actor: actor, Action: "provisioning", Target: r.URL.Path, Details: details,
		})
	})
}

// provisioningReason names why bridgev2 refused a provisioning request, from its error code.
func provisioningReason(errcode, message string) string {
	switch errcode {
	case mautrix.MMissingToken.ErrCode:
		return "missing shared secret or token"
	case mautrix.MUnknownToken.ErrCode:
		return "invalid shared secret or token"
	}
	if message != "" {
		return message
	}
	return "refused"
}

// statusRecorder keeps the status and, for refusals, the start of the body of a response.
type statusRecorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	if (s.status == http.StatusUnauthorized || s.status == http.StatusForbidden) && s.body.Len() < 4096 {
		s.body.Write(p)
	}
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the real writer (flushes of streamed answers).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
