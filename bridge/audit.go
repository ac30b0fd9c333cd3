package bridge

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/bridgev2/database"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/audit"
	"github.com/passerelle-bridge/passerelle/portal"
)

// auditedCommands are the bot commands that change who can act through the bridge. Each is
// re-registered wrapped in an auditedHandler, so its entry says how it ended.
var auditedCommands = []*commands.FullHandler{
	commands.CommandLogin, commands.CommandRelogin, commands.CommandLogout,
	commands.CommandSetRelay, commands.CommandUnsetRelay,
	commands.CommandDeletePortal, commands.CommandDeleteAllPortals, commands.CommandSetPreferredLogin,
	commands.CommandSudo, commands.CommandDoIn, commands.CommandResetNetwork,
}

// requestedOnly are audited commands whose handler the bridge cannot wrap (the importer registers
// its own, unexported): they are recorded as "requested" when they reach the processor.
var requestedOnly = map[string]bool{"import": true}

// auditingProcessor records the requestedOnly commands before handing them to bridgev2's processor.
type auditingProcessor struct {
	inner bridgev2.CommandProcessor
	c     *Connector
}

// WrapCommands puts the audit around the command processor: the audited commands' handlers are
// wrapped (outcome ok, failed or refused) and the processor records the requestedOnly ones. It
// must run after mxmain's Init, which type-asserts the processor to add its own commands, and
// after every other command is registered.
func (c *Connector) WrapCommands() {
	if c.Bridge.Commands == nil || c.Audit == nil {
		return
	}
	if proc, ok := c.Bridge.Commands.(*commands.Processor); ok {
		for _, h := range auditedCommands {
			proc.AddHandler(&auditedHandler{FullHandler: h, c: c})
		}
	}
	c.Bridge.Commands = &auditingProcessor{inner: c.Bridge.Commands, c: c}
}

func (p *auditingProcessor) Handle(ctx context.Context, roomID id.RoomID, eventID id.EventID, user *bridgev2.User, message string, replyTo id.EventID) {
	if fields := strings.Fields(message); len(fields) > 0 && requestedOnly[strings.ToLower(fields[0])] {
		_ = p.c.Audit.Record(ctx, audit.Entry{Actor: string(user.MXID), Action: "command:" + strings.ToLower(fields[0]), Target: string(roomID), Outcome: "requested"})
	}
	p.inner.Handle(ctx, roomID, eventID, user, message, replyTo)
}

func (c *Connector) isFlowID(s string) bool {
	for _, n := range c.all {
		for _, f := range n.GetLoginFlows() {
			if f.ID == s {
				return true
			}
		}
	}
	return false
}

// auditedLogin records how a login process ends, whichever way it was started (bot command or
// provisioning API).
type auditedLogin struct {
	inner bridgev2.LoginProcess
	c     *Connector
	user  *bridgev2.User
	flow  string
	done  bool
}

type auditedLoginWithOverride struct{ *auditedLogin }

func (a auditedLoginWithOverride) StartWithOverride(ctx context.Context, override *bridgev2.UserLogin) (*bridgev2.LoginStep, error) {
	step, err := a.inner.(bridgev2.LoginProcessWithOverride).StartWithOverride(ctx, override)
	return a.observe(ctx, step, err)
}

func (c *Connector) wrapLogin(lp bridgev2.LoginProcess, user *bridgev2.User, flow string) bridgev2.LoginProcess {
	if c.Audit == nil || lp == nil {
		return lp
	}
	a := &auditedLogin{inner: lp, c: c, user: user, flow: flow}
	if _, ok := lp.(bridgev2.LoginProcessWithOverride); ok {
		return auditedLoginWithOverride{a}
	}
	return a
}

func (a *auditedLogin) observe(ctx context.Context, step *bridgev2.LoginStep, err error) (*bridgev2.LoginStep, error) {
	if a.done {
		return step, err
	}
	actor := ""
	if a.user != nil {
		actor = string(a.user.MXID)
	}
	network, _ := portal.NetworkOf(a.flowNetworkPrefix())
	entry := audit.Entry{Actor: actor, Action: "login", Network: string(network), Details: map[string]string{"flow": a.flow}}
	switch {
	case err != nil:
		entry.Outcome = "failed"
		entry.Details["error"] = err.Error()
	case step != nil && step.Type == bridgev2.LoginStepTypeComplete:
		entry.Outcome = "ok"
		if step.CompleteParams != nil {
			entry.Target = string(step.CompleteParams.UserLoginID)
		}
	default:
		return step, err
	}
	a.done = true
	_ = a.c.Audit.Record(ctx, entry)
	return step, err
}

func (a *auditedLogin) flowNetworkPrefix() string {
	if strings.HasPrefix(a.flow, "whatsapp-") {
		return string(portal.WhatsApp) + ".x"
	}
	return string(portal.Telegram) + ".x"
}

func (a *auditedLogin) Start(ctx context.Context) (*bridgev2.LoginStep, error) {
	step, err := a.inner.Start(ctx)
	return a.observe(ctx, step, err)
}

func (a *auditedLogin) Cancel() {
	if !a.done && a.c.Audit != nil {
		a.done = true
		_ = a.c.Audit.Record(context.Background(), audit.Entry{Actor: string(a.user.MXID), Action: "login", Outcome: "cancelled", Details: map[string]string{"flow": a.flow}})
	}
	a.inner.Cancel()
}

func (a *auditedLogin) Wait(ctx context.Context) (*bridgev2.LoginStep, error) {
	w, ok := a.inner.(bridgev2.LoginProcessDisplayAndWait)
	if !ok {
		return nil, fmt.Errorf("login flow %s has no display-and-wait step", a.flow)
	}
	step, err := w.Wait(ctx)
	return a.observe(ctx, step, err)
}

func (a *auditedLogin) SubmitUserInput(ctx context.Context, input map[string]string) (*bridgev2.LoginStep, error) {
	u, ok := a.inner.(bridgev2.LoginProcessUserInput)
	if !ok {
		return nil, fmt.Errorf("login flow %s takes no typed input", a.flow)
	}
	step, err := u.SubmitUserInput(ctx, input)
	return a.observe(ctx, step, err)
}

func (a *auditedLogin) SubmitCookies(ctx context.Context, cookies map[string]string) (*bridgev2.LoginStep, error) {
	ck, ok := a.inner.(bridgev2.LoginProcessCookies)
	if !ok {
		return nil, fmt.Errorf("login flow %s takes no cookies", a.flow)
	}
	step, err := ck.SubmitCookies(ctx, cookies)
	return a.observe(ctx, step, err)
}

const permissionsKey database.Key = "passerelle_audit_permissions"

// auditPermissions records a change of bridge.permissions since the last start.
func (c *Connector) auditPermissions(ctx context.Context) {
	current, err := json.Marshal(c.Bridge.Config.Permissions)
	if err != nil {
		return
	}
	previous := c.Bridge.DB.KV.Get(ctx, permissionsKey)
	if previous == string(current) {
		return
	}
	details := map[string]string{"new": string(current)}
	if previous != "" {
		details["old"] = previous
	}
	if c.Audit.Record(ctx, audit.Entry{Actor: "config", Action: "permissions-changed", Outcome: "ok", Details: details}) == nil {
		c.Bridge.DB.KV.Set(ctx, permissionsKey, string(current))
	}
}

// RecordLogout is for connectors: a login ended, by the user or by the remote network.
func (c *Connector) RecordLogout(ctx context.Context, login *bridgev2.UserLogin, reason string) {
	if c.Audit == nil || login == nil {
		return
	}
	n, _ := portal.NetworkOf(string(login.ID))
	_ = c.Audit.Record(ctx, audit.Entry{Actor: string(login.UserMXID), Action: "logout", Network: string(n), Target: string(login.ID), Outcome: "ok", Details: map[string]string{"reason": reason}})
}

var commandAuditExport = &commands.FullHandler{
	Name: "audit-export",
	Help: commands.HelpMeta{
		Section:     commands.HelpSectionAdmin,
		Description: "Export the audit log (logins, logouts, relays, permission changes) as a JSON-lines file",
		Args:        "[_days, default 30_]",
	},
	RequiresAdmin: true,
}

func (c *Connector) fnAuditExport(ce *commands.Event) {
	days := 30
	if len(ce.Args) > 0 {
		n, err := strconv.Atoi(ce.Args[0])
		if err != nil || n <= 0 {
			ce.Reply("Usage: `$cmdprefix audit-export [days]` with days a positive number, not %q", ce.Args[0])
			return
		}
		days = n
	}
	entries, err := c.Audit.List(ce.Ctx, time.Now().AddDate(0, 0, -days), 0)
	if err != nil {
		ce.Reply("Failed to read the audit log: %v", err)
		return
	}
	data := audit.ExportJSONL(entries)
	name := fmt.Sprintf("passerelle-audit-%s.jsonl", time.Now().UTC().Format("2006-01-02"))
	url, file, err := ce.Bot.UploadMedia(ce.Ctx, ce.RoomID, data, name, "application/jsonl")
	if err != nil {
		ce.Reply("Failed to upload the audit export: %v", err)
		return
	}
	content := &event.MessageEventContent{MsgType: event.MsgFile, Body: name, FileName: name, URL: url, File: file,
		Info: &event.FileInfo{MimeType: "application/jsonl", Size: len(data)}}
	if _, err = ce.Bot.SendMessage(ce.Ctx, ce.RoomID, event.EventMessage, &event.Content{Parsed: content}, nil); err != nil {
		ce.Reply("Failed to send the audit export: %v", err)
		return
	}
	ce.Reply("%d audit entries from the last %d days.", len(entries), days)
}
