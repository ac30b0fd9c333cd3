package bridge

import (
	"errors"
	"fmt"
	"html"
	"slices"
	"strings"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/bridgev2/networkid"
	"maunium.net/go/mautrix/bridgev2/provisionutil"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/portal"
)

// CandidateNetworks says which networks may know an identifier typed by a user, in the order
// they are asked: a phone number is tried on WhatsApp and then on Telegram, an @username only on
// Telegram, a prefixed ID or ghost on its own network, anything else on every network.
func CandidateNetworks(identifier string, parseGhost func(id.UserID) (networkid.UserID, bool)) []portal.Network {
	identifier = strings.TrimSpace(identifier)
	if strings.HasPrefix(identifier, "@") && strings.Contains(identifier, ":") && parseGhost != nil {
		if ghost, ok := parseGhost(id.UserID(identifier)); ok {
			if n, err := portal.NetworkOf(string(ghost)); err == nil {
				return []portal.Network{n}
			}
		}
		return nil
	}
	if n, err := portal.NetworkOf(identifier); err == nil {
		return []portal.Network{n}
	}
	if strings.HasPrefix(identifier, "@") || strings.HasPrefix(identifier, "https://t.me/") || strings.HasPrefix(identifier, "t.me/") {
		return []portal.Network{portal.Telegram}
	}
	if IsPhoneNumber(identifier) {
		return []portal.Network{portal.WhatsApp, portal.Telegram}
	}
	return slices.Clone(portal.Networks)
}

// IsPhoneNumber accepts international numbers as people type them: "+33 6 12-34-56-78".
func IsPhoneNumber(s string) bool {
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '-', r == '(', r == ')', r == '.':
		default:
			return false
		}
	}
	return digits >= 6 && digits <= 15
}

// loginsOn returns the user's logins on network n, in a stable order.
func loginsOn(user *bridgev2.User, n portal.Network) []*bridgev2.UserLogin {
	var out []*bridgev2.UserLogin
	for _, login := range user.GetUserLogins() {
		if got, err := portal.NetworkOf(string(login.ID)); err == nil && got == n && login.Client != nil {
			out = append(out, login)
		}
	}
	slices.SortFunc(out, func(a, b *bridgev2.UserLogin) int { return strings.Compare(string(a.ID), string(b.ID)) })
	return out
}

func (c *Connector) registerCommands() {
	proc, ok := c.Bridge.Commands.(*commands.Processor)
	if !ok {
		return
	}
	proc.AddHandlers(&commands.FullHandler{
		Func: c.fnResolve,
		Name: "resolve-identifier",
		Help: commands.HelpMeta{
			Section:     commands.HelpSectionChats,
			Description: "Check whether a phone number, @username or ID is on WhatsApp or Telegram",
			Args:        "[_login ID_] <_identifier_>",
		},
		RequiresLogin: true,
	}, &commands.FullHandler{
		Func:    c.fnResolve,
		Name:    "start-chat",
		Aliases: []string{"pm"},
		Help: commands.HelpMeta{
			Section:     commands.HelpSectionChats,
			Description: "Start a direct chat: a phone number is tried on WhatsApp, then Telegram; @username on Telegram",
			Args:        "[_login ID_] <_identifier_>",
		},
		RequiresLogin: true,
	})
	export := *commandAuditExport
	export.Func = c.fnAuditExport
	proc.AddHandler(&export)
}

// fnResolve replaces bridgev2's resolve-identifier/start-chat, which asks the user's first login
// (whatever its network) and then the others in random order.
func (c *Connector) fnResolve(ce *commands.Event) {
	if len(ce.Args) == 0 {
		ce.Reply("Usage: `$cmdprefix %s [login ID] <phone number, @username or ID>`", ce.Command)
		return
	}
	args := ce.Args
	var logins []*bridgev2.UserLogin
	if explicit := c.Bridge.GetCachedUserLoginByID(networkid.UserLoginID(args[0])); explicit != nil && explicit.UserMXID == ce.User.MXID && len(args) > 1 {
		logins = []*bridgev2.UserLogin{explicit}
		args = args[1:]
	}
	identifier := strings.Join(args, " ")
	createChat := ce.Command == "start-chat" || ce.Command == "pm"
	if logins == nil {
		networks := CandidateNetworks(identifier, c.Bridge.Matrix.ParseGhostMXID)
		for _, n := range networks {
			if _, err := c.For(n); err != nil {
				continue
			}
			logins = append(logins, loginsOn(ce.User, n)...)
		}
		if len(logins) == 0 {
			var names []string
			for _, n := range networks {
				names = append(names, n.Name())
			}
			ce.Reply("You have no login on %s, which is where `%s` could be. Use `login` first.", strings.Join(names, " or "), identifier)
			return
		}
	}
	var lastErr error
	for _, login := range logins {
		resp, err := provisionutil.ResolveIdentifier(ce.Ctx, login, identifier, createChat)
		if errors.Is(err, bridgev2.ErrResolveIdentifierTryNext) || (err == nil && resp == nil) {
			lastErr = err
			continue
		} else if err != nil {
			ce.Reply("Failed to resolve `%s` on %s: %v", identifier, networkName(login.ID), err)
			return
		}
		c.replyResolved(ce, login, resp, createChat)
		return
	}
	if lastErr != nil && !errors.Is(lastErr, bridgev2.ErrResolveIdentifierTryNext) {
		ce.Reply("Failed to resolve `%s`: %v", identifier, lastErr)
		return
	}
	ce.ReplyAdvanced(fmt.Sprintf("<code>%s</code> was not found on WhatsApp or Telegram through your logins", html.EscapeString(identifier)), false, true)
}

func networkName(loginID networkid.UserLoginID) string {
	n, err := portal.NetworkOf(string(loginID))
	if err != nil {
		return string(loginID)
	}
	return n.Name()
}

func (c *Connector) replyResolved(ce *commands.Event, login *bridgev2.UserLogin, resp *provisionutil.RespResolveIdentifier, createChat bool) {
	who := fmt.Sprintf("`%s`", resp.ID)
	if resp.MXID != "" {
		who = fmt.Sprintf("`%s` / [%s](%s)", resp.ID, resp.Name, resp.MXID.URI().MatrixToURL())
	} else if resp.Name != "" {
		who = fmt.Sprintf("`%s` / %s", resp.ID, resp.Name)
	}
	net := networkName(login.ID)
	if !createChat || resp.Portal == nil {
		ce.Reply("Found %s on %s", who, net)
		return
	}
	name := resp.Portal.Name
	if name == "" {
		name = resp.Portal.MXID.String()
	}
	if resp.JustCreated {
		ce.Reply("Created %s chat with %s: [%s](%s)", net, who, name, resp.Portal.MXID.URI().MatrixToURL())
	} else {
		ce.Reply("You already have a %s chat with %s at [%s](%s)", net, who, name, resp.Portal.MXID.URI().MatrixToURL())
	}
}
