package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/appservice"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/audit"
	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
	"github.com/passerelle-bridge/passerelle/telegram/tgtestserver"
)

// The permission levels of bridgev2's bridge.permissions, one Matrix user each. The homeserver is
// fresh per bridge, so the localparts are fixed and written into the config before the users exist.
const (
	lvlUnlisted = "unlisted" // no entry at all, and no entry for its homeserver
	lvlRelay    = "relay"
	lvlCommands = "commands"
	lvlUser     = "user"
	lvlAdmin    = "admin"
)

var levels = []string{lvlUnlisted, lvlRelay, lvlCommands, lvlUser, lvlAdmin}

// localparts of the users of each level.
var levelUser = map[string]string{
	lvlUnlisted: "nobody", lvlRelay: "relayer", lvlCommands: "commander", lvlUser: "member", lvlAdmin: "boss",
}

// foreignUser is on a homeserver that cannot exist here; its events can only arrive in an
// appservice transaction.
const foreignUser = id.UserID("@mallory:evil.example")

// guarded is one bridge with a permission entry per level, relay mode on, message status events
// on (so a refused event leaves a trace in the room) and Telegram pointed at a test server. The
// permission, bad-input and operations tests share it, in that order, per database engine.
type guarded struct {
	br  *bridgetest.Bridge
	srv *tgtestserver.Server
	db  *sql.DB

	users map[string]*mautrix.Client
	mgmt  map[string]id.RoomID

	marie, bob *tgtestserver.Actor
	bobName    string
	adminLogin string
	portal     id.RoomID
	seen       map[id.RoomID]bool
}

// TestGuardedBridge runs the permission matrix, the bad-input checks and the operator endpoints
// against one bridge per database engine.
func TestGuardedBridge(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			g := startGuarded(t, engine)
			step := func(name string, f func(t *testing.T, g *guarded)) {
				if !t.Run(name, func(t *testing.T) { f(t, g) }) {
					t.FailNow()
				}
			}
			step("Permissions", testPermissionMatrix)
			step("Operations", testOperatorEndpoints)
			step("BadInput", testBadInput)
		})
	}
}

func startGuarded(t *testing.T, engine string) *guarded {
	t.Helper()
	srv, err := tgtestserver.New(tgtestserver.Options{
		Logger: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel).With().Timestamp().Logger(),
	})
	if err != nil {
		t.Fatalf("telegram test server: %v", err)
	}
	if err = srv.Start(context.Background()); err != nil {
		t.Fatalf("start telegram test server: %v", err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	g := &guarded{srv: srv, users: map[string]*mautrix.Client{}, mgmt: map[string]id.RoomID{}, seen: map[id.RoomID]bool{}}
	if g.marie, err = srv.CreateUser(tgtestserver.UserSpec{Phone: "+33 6 10 00 00 01", FirstName: "Marie", LastName: "Guard"}); err != nil {
		t.Fatal(err)
	}
	g.bobName = "bobguard"
	if g.bob, err = srv.CreateUser(tgtestserver.UserSpec{Phone: "+33610000002", FirstName: "Bob", Username: g.bobName}); err != nil {
		t.Fatal(err)
	}

	perms := map[string]string{"other.example": lvlUser}
	for _, lvl := range levels {
		if lvl != lvlUnlisted {
			perms[string(hstest.UserID(levelUser[lvl]))] = lvl
		}
	}
	tgSection := telegramSection(srv)
	g.br = bridgetest.New(t, bridgetest.Options{
		Binary: passerelleBin, Engine: engine, DisableEncryption: true, LogLevel: "debug",
		Permissions: perms,
		Edit: func(cfg bridgetest.Config) error {
			if err := tgSection(cfg); err != nil {
				return err
			}
			if err := cfg.Set(true, "bridge", "relay", "enabled"); err != nil {
				return err
			}
			return cfg.Set(true, "matrix", "message_status_events")
		},
	})
	g.db = g.br.OpenDB(t)
	for _, lvl := range levels {
		g.users[lvl] = g.br.Homeserver.NewUser(t, levelUser[lvl])
	}
	return g
}

func testPermissionMatrix(t *testing.T, g *guarded) {
	steps := []struct {
		name string
		f    func(t *testing.T, g *guarded)
	}{
		{"DMTheBot", permDMTheBot},
		{"Help", permHelp},
		{"LoginFlows", permLoginFlows},
		{"AdminLogsIn", permAdminLogsIn},
		{"StartChat", permStartChat},
		{"SetRelay", permSetRelay},
		{"RelayedMessages", permRelayedMessages},
		{"Provisioning", permProvisioning},
		{"ForeignServerTransaction", permForeignServer},
		{"AuditExport", permAuditExport},
		{"NothingElseChanged", permNothingElseChanged},
	}
	for _, s := range steps {
		if !t.Run(s.name, func(t *testing.T) { s.f(t, g) }) {
			t.FailNow()
		}
	}
}

// permDMTheBot: inviting the bot to a DM works from the commands level up; the bot refuses the
// invite of an unlisted user and of a relay-only user, saying why, and sends them nothing.
func permDMTheBot(t *testing.T, g *guarded) {
	cases := []struct {
		level  string
		refuse string // the invite-rejection reason, or "" when the bot must join
	}{
		{lvlUnlisted, "You don't have permission to interact with this bridge"},
		{lvlRelay, "You don't have permission to send commands to this bridge"},
		{lvlCommands, ""},
		{lvlUser, ""},
		{lvlAdmin, ""},
	}
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			cli := g.users[tc.level]
			if tc.refuse == "" {
				g.mgmt[tc.level] = g.br.OpenManagementRoom(t, cli)
				return
			}
			ctx := context.Background()
			resp, err := cli.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{g.br.Bot}})
			if err != nil {
				t.Fatal(err)
			}
			leave := g.br.WaitForEvent(t, cli, resp.RoomID, "", func(evt *event.Event) bool {
				return evt.Type == event.StateMember && evt.GetStateKey() == g.br.Bot.String() &&
					evt.Content.AsMember().Membership == event.MembershipLeave
			})
			if reason := leave.Content.AsMember().Reason; reason != tc.refuse {
				t.Errorf("the bot left with reason %q, want %q", reason, tc.refuse)
			}
			if n := countBotMessages(t, cli, resp.RoomID, g.br.Bot); n != 0 {
				t.Errorf("the bot sent %d messages into the refused DM", n)
			}
		})
	}
}

func countBotMessages(t *testing.T, cli *mautrix.Client, room id.RoomID, bot id.UserID) int {
	t.Helper()
	resp, err := cli.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 200)
	if err != nil {
		t.Fatalf("read %s: %v", room, err)
	}
	n := 0
	for _, evt := range resp.Chunk {
		if evt.Sender == bot && evt.Type == event.EventMessage {
			n++
		}
	}
	return n
}

// permHelp: help answers from the commands level up, and lists the admin-only audit-export only
// to admins.
func permHelp(t *testing.T, g *guarded) {
	for _, lvl := range []string{lvlCommands, lvlUser, lvlAdmin} {
		t.Run(lvl, func(t *testing.T) {
			help := g.br.Command(t, g.users[lvl], g.mgmt[lvl], "help")
			if !strings.Contains(help.Body, managementRoomHint) {
				t.Errorf("help:\n%s", help.Body)
			}
			if got, want := strings.Contains(help.Body, "audit-export"), lvl == lvlAdmin; got != want {
				t.Errorf("help lists audit-export: %v, want %v:\n%s", got, want, help.Body)
			}
		})
	}
}

// permLoginFlows: `login` lists the flows for user and admin and is refused at the commands level;
// the refused attempt is in the audit table as refused, a started flow as ok.
func permLoginFlows(t *testing.T, g *guarded) {
	for _, lvl := range []string{lvlCommands, lvlUser, lvlAdmin} {
		t.Run(lvl, func(t *testing.T) {
			reply := g.br.Command(t, g.users[lvl], g.mgmt[lvl], "login")
			var got []string
			for _, m := range flowLine.FindAllStringSubmatch(reply.Body, -1) {
				got = append(got, m[1])
			}
			if lvl == lvlCommands {
				if len(got) != 0 || !strings.Contains(reply.Body, "You do not have permissions to log into this bridge") {
					t.Errorf("a commands-level user got:\n%s", reply.Body)
				}
			} else if !slices.Equal(got, wantFlows) {
				t.Errorf("login offers %q, want %q", got, wantFlows)
			}
			// Starting a flow: refused likewise, or the first prompt (after the flow's
			// instructions, so wait for the prompt itself).
			if lvl == lvlCommands {
				start := g.br.Command(t, g.users[lvl], g.mgmt[lvl], "login telegram-phone")
				if !strings.Contains(start.Body, "You do not have permissions to log into this bridge") {
					t.Errorf("login telegram-phone at the commands level got:\n%s", start.Body)
				}
				return
			}
			g.sendAndWait(t, g.users[lvl], g.mgmt[lvl], "login telegram-phone", "Please enter your Phone number")
			// Leave the flow unfinished, as a user who walks away.
			g.sendAndWait(t, g.users[lvl], g.mgmt[lvl], "cancel", "cancelled")
		})
	}
	refused := g.wantAudit(t, hstest.UserID(levelUser[lvlCommands]), "command:login", "refused")
	if refused.Details["reason"] != "no login permission" {
		t.Errorf("refused login entry: %+v", refused)
	}
	for _, lvl := range []string{lvlUser, lvlAdmin} {
		started := g.wantAuditWhere(t, "the started login flow of "+lvl, func(e audit.Entry) bool {
			return e.Actor == hstest.UserID(levelUser[lvl]).String() && e.Action == "command:login" && e.Details["flow"] == "telegram-phone"
		})
		if started.Outcome != "ok" {
			t.Errorf("%s: started login flow audited as %+v", lvl, started)
		}
	}
	if n := g.countRows(t, `SELECT count(*) FROM passerelle_audit WHERE outcome='requested'`); n != 0 {
		t.Errorf("%d audit entries say only 'requested' for commands whose outcome is known", n)
	}
}

// permAdminLogsIn: the admin logs in to Telegram in chat; the audit table records it.
func permAdminLogsIn(t *testing.T, g *guarded) {
	final := tgLogin(t, g.br, g.users[lvlAdmin], g.mgmt[lvlAdmin],
		func() string { return "+33610000001" },
		func() string {
			code, ok := g.srv.LastCode("33610000001")
			if !ok {
				t.Fatal("the server sent no login code")
			}
			return code
		})
	if !strings.Contains(final, "Logged in to Telegram as Marie Guard") {
		t.Fatalf("login did not finish:\n%s", final)
	}
	g.seen[g.mgmt[lvlAdmin]] = true
	logins, err := bridgetest.QueryStrings(g.db, `SELECT id FROM user_login WHERE user_mxid=$1`, hstest.UserID(levelUser[lvlAdmin]).String())
	if err != nil || len(logins) != 1 {
		t.Fatalf("admin's logins in the database: %v, %v", logins, err)
	}
	g.adminLogin = logins[0]
	if want := fmt.Sprintf("tg.%d", g.marie.ID()); g.adminLogin != want {
		t.Errorf("admin's login ID %s, want %s", g.adminLogin, want)
	}
	e := g.wantAudit(t, hstest.UserID(levelUser[lvlAdmin]), "login", "ok")
	if e.Target != g.adminLogin || e.Network != "tg" || e.Details["flow"] != "telegram-phone" {
		t.Errorf("audit entry of the login: %+v", e)
	}
}

// permStartChat: start-chat needs a login, so only the admin (logged in) gets a chat; the
// commands-level user and the not-logged-in user are told they need a login, and no portal is
// created for them.
func permStartChat(t *testing.T, g *guarded) {
	for _, lvl := range []string{lvlCommands, lvlUser} {
		reply := g.br.Command(t, g.users[lvl], g.mgmt[lvl], "start-chat @"+g.bobName)
		if !strings.Contains(reply.Body, "That command requires you to be logged in") {
			t.Errorf("%s: start-chat got:\n%s", lvl, reply.Body)
		}
	}
	if n := g.countRows(t, `SELECT count(*) FROM portal`); n != 0 {
		t.Fatalf("%d portals exist after refused start-chats", n)
	}
	g.sendAndWait(t, g.users[lvlAdmin], g.mgmt[lvlAdmin], "start-chat @"+g.bobName, "Created Telegram chat with")
	g.portal = tgWaitInvite(t, g.users[lvlAdmin], g.seen)
	if n := g.countRows(t, `SELECT count(*) FROM portal WHERE mxid=$1`, g.portal.String()); n != 1 {
		t.Fatalf("the admin's new room %s is not a portal (%d rows)", g.portal, n)
	}
}

// permSetRelay: the other users join the admin's portal; nobody but the admin can set the relay.
// An unlisted user's command is dropped, a relay user's is refused as a command, commands and
// user levels lack the room power and may not use someone else's login; the admin can.
func permSetRelay(t *testing.T, g *guarded) {
	ctx := context.Background()
	admin := g.users[lvlAdmin]
	for _, lvl := range []string{lvlUnlisted, lvlRelay, lvlCommands, lvlUser} {
		if _, err := admin.InviteUser(ctx, g.portal, &mautrix.ReqInviteUser{UserID: g.users[lvl].UserID}); err != nil {
			t.Fatalf("invite %s to the portal: %v", lvl, err)
		}
		if _, err := g.users[lvl].JoinRoomByID(ctx, g.portal); err != nil {
			t.Fatalf("%s joins the portal: %v", lvl, err)
		}
	}
	cmd := "!pa set-relay " + g.adminLogin
	cases := []struct {
		level   string
		status  string // the message status reason for a dropped event
		refusal string // the bot's answer for a refused command
	}{
		{lvlUnlisted, "you don't have permission to send messages", ""},
		{lvlRelay, "you don't have permission to use commands", ""},
		{lvlCommands, "", "You don't have permission to manage the relay in this room"},
		{lvlUser, "", "You don't have permission to manage the relay in this room"},
	}
	for _, tc := range cases {
		t.Run(tc.level, func(t *testing.T) {
			cli := g.users[tc.level]
			sent, err := cli.SendText(ctx, g.portal, cmd)
			if err != nil {
				t.Fatal(err)
			}
			if tc.status != "" {
				st := g.waitStatus(t, admin, g.portal, sent.EventID)
				if !isFailure(st) || !strings.Contains(st.Error+st.Message, tc.status) {
					t.Errorf("status of the dropped command: %+v, want a failure saying %q", st, tc.status)
				}
				return
			}
			reply := g.br.WaitForEvent(t, cli, g.portal, sent.EventID, func(evt *event.Event) bool {
				return evt.Sender == g.br.Bot && evt.Type == event.EventMessage && evt.Content.AsMessage().MsgType == event.MsgNotice
			})
			if body := reply.Content.AsMessage().Body; !strings.Contains(body, tc.refusal) {
				t.Errorf("set-relay by %s got %q, want %q", tc.level, body, tc.refusal)
			}
		})
		if relay := g.portalRelay(t); relay != "" {
			t.Fatalf("after %s's set-relay the portal's relay is %q", tc.level, relay)
		}
	}
	g.sendAndWait(t, admin, g.portal, "!pa set-relay", "will now be relayed through")
	if relay := g.portalRelay(t); relay != g.adminLogin {
		t.Fatalf("portal relay is %q, want the admin's login %s", relay, g.adminLogin)
	}
	// Every attempt is audited with its outcome: refused by set-relay's own check (commands and
	// user levels), refused before the command processor (relay level: no commands; unlisted: no
	// use of the bridge at all), ok for the admin.
	for _, tc := range []struct{ level, reason string }{
		{lvlUnlisted, "no permission to use the bridge"},
		{lvlRelay, "no permission to use commands"},
		{lvlCommands, "You don't have permission to manage the relay in this room"},
		{lvlUser, "You don't have permission to manage the relay in this room"},
	} {
		e := g.wantAudit(t, hstest.UserID(levelUser[tc.level]), "command:set-relay", "refused")
		if e.Details["reason"] != tc.reason || e.Target != g.portal.String() {
			t.Errorf("%s: refused set-relay entry %+v, want reason %q in %s", tc.level, e, tc.reason, g.portal)
		}
	}
	ok := g.wantAudit(t, hstest.UserID(levelUser[lvlAdmin]), "command:set-relay", "ok")
	if ok.Target != g.portal.String() || ok.Details["reason"] != "" {
		t.Errorf("the admin's set-relay entry: %+v", ok)
	}
}

// permRelayedMessages: with the relay set, a relay-level user's message reaches Telegram through
// the admin's account, with the sender named; an unlisted user's message is dropped with a
// status and never reaches Telegram.
func permRelayedMessages(t *testing.T, g *guarded) {
	ctx := context.Background()
	dropped, err := g.users[lvlUnlisted].SendText(ctx, g.portal, "unlisted user says hi")
	if err != nil {
		t.Fatal(err)
	}
	if _, err = g.users[lvlRelay].SendText(ctx, g.portal, "relayed hello"); err != nil {
		t.Fatal(err)
	}
	peer := tgtestserver.UserPeer(g.marie.ID())
	h := waitTelegram(t, g.srv, g.bob.ID(), peer, "the relayed message", func(h []tgtestserver.StoredMessage) bool {
		for _, m := range h {
			if strings.Contains(m.Text, "relayed hello") {
				return true
			}
		}
		return false
	})
	for _, m := range h {
		if strings.Contains(m.Text, "relayed hello") && !strings.Contains(m.Text, "relayer") {
			t.Errorf("the relayed message does not name its Matrix sender: %q", m.Text)
		}
	}
	st := g.waitStatus(t, g.users[lvlAdmin], g.portal, dropped.EventID)
	if !isFailure(st) {
		t.Errorf("status of the unlisted user's message: %+v", st)
	}
	for _, m := range g.srv.History(g.bob.ID(), peer) {
		if strings.Contains(m.Text, "unlisted user says hi") {
			t.Errorf("an unlisted user's message reached Telegram: %q", m.Text)
		}
	}
}

// provisionCase is one call of the provisioning matrix.
type provisionCase struct {
	method, path string
	body         any
	// allowed: the answer for users with the login permission; others get 403.
	allowed func(level string) int
}

// permProvisioning: the provisioning API v3 with the shared secret (for any user_id), with the
// user's own Matrix access token, with another user's token and with a wrong token.
func permProvisioning(t *testing.T, g *guarded) {
	ctx := context.Background()
	ok := func(string) int { return http.StatusOK }
	calls := []provisionCase{
		{method: http.MethodGet, path: "/v3/login/flows", allowed: ok},
		{method: http.MethodGet, path: "/v3/logins", allowed: ok},
		{method: http.MethodGet, path: "/v3/resolve_identifier/@" + g.bobName, allowed: func(lvl string) int {
			if lvl == lvlAdmin {
				return http.StatusOK
			}
			return http.StatusBadRequest // not logged in: a clear error, not a permission one
		}},
		{method: http.MethodPost, path: "/v3/login/start/telegram-phone", body: map[string]any{}, allowed: ok},
	}
	type auth struct {
		name  string
		token func(lvl string) string
	}
	auths := []auth{
		{"shared-secret", func(string) string { return g.br.SharedSecret }},
		{"own-access-token", func(lvl string) string { return g.users[lvl].AccessToken }},
	}
	for _, a := range auths {
		for _, lvl := range levels {
			for _, c := range calls {
				t.Run(a.name+"/"+lvl+"/"+c.method+c.path, func(t *testing.T) {
					want := http.StatusForbidden
					if lvl == lvlUser || lvl == lvlAdmin {
						want = c.allowed(lvl)
					}
					var out map[string]any
					status, err := g.br.ProvisionWithSecret(ctx, a.token(lvl), c.method, c.path, g.users[lvl].UserID, c.body, &out)
					if status != want {
						t.Fatalf("HTTP %d (%v), want %d", status, err, want)
					}
					if status == http.StatusOK && strings.HasPrefix(c.path, "/v3/login/start/") {
						if out["type"] != "user_input" || out["login_id"] == nil {
							t.Errorf("login start answered %v", out)
						}
						// Cancel the unfinished flow, as a client would when its user walks away.
						loginID, _ := out["login_id"].(string)
						if st, err := g.br.ProvisionWithSecret(ctx, a.token(lvl), http.MethodPost, "/v3/login/cancel/"+url.PathEscape(loginID), g.users[lvl].UserID, map[string]any{}, nil); err != nil {
							t.Errorf("cancel login %s: HTTP %d: %v", loginID, st, err)
						}
					}
					if status == http.StatusOK && c.path == "/v3/logins" {
						logins, _ := out["login_ids"].([]any)
						if want := map[string]int{lvlUser: 0, lvlAdmin: 1}[lvl]; len(logins) != want {
							t.Errorf("%s has %d logins, want %d: %v", lvl, len(logins), want, out)
						}
					}
				})
			}
		}
	}
	member, admin := g.users[lvlUser], g.users[lvlAdmin]
	refusals := []struct {
		name   string
		token  string
		user   id.UserID
		status int
	}{
		// A valid token of one user does not speak for another.
		{"admin-token-for-member", admin.AccessToken, member.UserID, http.StatusUnauthorized},
		{"member-token-for-admin", member.AccessToken, admin.UserID, http.StatusUnauthorized},
		{"wrong-token", "syt_bm90LWEtdG9rZW4_nothing_0000", member.UserID, http.StatusUnauthorized},
		{"empty-token", "", member.UserID, http.StatusUnauthorized},
		// The shared secret with a user of a server that has no permission entry.
		{"secret-foreign-user", g.br.SharedSecret, foreignUser, http.StatusForbidden},
		// The shared secret with a user granted through the other.example entry.
		{"secret-other-example-user", g.br.SharedSecret, "@x:other.example", http.StatusOK},
		{"secret-no-user", g.br.SharedSecret, "", http.StatusForbidden},
	}
	for _, r := range refusals {
		t.Run(r.name, func(t *testing.T) {
			status, err := g.br.ProvisionWithSecret(ctx, r.token, http.MethodGet, "/v3/logins", r.user, nil, nil)
			if status != r.status {
				t.Errorf("HTTP %d (%v), want %d", status, err, r.status)
			}
		})
	}
	// Logins started through the API and cancelled are in the audit table; none was created.
	g.wantAudit(t, member.UserID, "login", "cancelled")

	// No Authorization header at all ("Bearer " with an empty token reaches bridgev2 as the
	// invalid token "Bearer", the header's trailing space trimmed).
	bare, err := http.NewRequestWithContext(ctx, http.MethodGet, g.br.Address+"/_matrix/provision/v3/logins?user_id="+url.QueryEscape(admin.UserID.String()), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(bare)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("provisioning without Authorization: HTTP %d, want 401", resp.StatusCode)
	}

	// Every refusal above is audited, with the path and the remote address, the user as actor
	// only when the credentials were valid, and no credential anywhere in the table.
	prov := func(e audit.Entry) bool { return e.Action == "provisioning" && e.Outcome == "refused" }
	for _, want := range []struct {
		name           string
		actor, claimed id.UserID
		reason         string
	}{
		{"wrong token", "", member.UserID, "invalid shared secret or token"},
		{"no Authorization header", "", admin.UserID, "missing shared secret or token"},
		{"foreign user with the secret", foreignUser, "", "User does not have login permissions"},
		{"unlisted user with own token", g.users[lvlUnlisted].UserID, "", "User does not have login permissions"},
		{"relay user", g.users[lvlRelay].UserID, "", "User does not have login permissions"},
		{"commands user", g.users[lvlCommands].UserID, "", "User does not have login permissions"},
	} {
		e := g.wantAuditWhere(t, "the refused provisioning request: "+want.name, func(e audit.Entry) bool {
			return prov(e) && e.Actor == want.actor.String() && e.Details["claimed_user"] == want.claimed.String() && e.Details["reason"] == want.reason
		})
		if !strings.HasPrefix(e.Target, "/_matrix/provision/v3/") || e.Details["remote_addr"] != "127.0.0.1" || e.Details["method"] == "" {
			t.Errorf("%s: entry %+v", want.name, e)
		}
	}
	g.assertNoSecretInAudit(t)
}

// assertNoSecretInAudit fails when the shared secret, the appservice tokens or a user's access
// token is anywhere in the audit table.
func (g *guarded) assertNoSecretInAudit(t *testing.T) {
	t.Helper()
	rows, err := bridgetest.QueryStrings(g.db, `SELECT actor || ' ' || action || ' ' || target || ' ' || details FROM passerelle_audit`)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{g.br.SharedSecret, g.br.Registration.AppToken, g.br.Registration.ServerToken}
	for _, cli := range g.users {
		secrets = append(secrets, cli.AccessToken)
	}
	for _, r := range rows {
		for _, s := range secrets {
			if s != "" && strings.Contains(r, s) {
				t.Errorf("a secret is in the audit table: %.300s", r)
			}
		}
	}
}

// permForeignServer: events from a user of a server without a permission entry, delivered in a
// valid (hs_token-signed) transaction, are ignored: commands in the admin's management room and
// in the portal, and a bot invite. The portal gets a failure status for the dropped command.
func permForeignServer(t *testing.T, g *guarded) {
	ctx := context.Background()
	now := time.Now().UnixMilli()
	msg := func(room id.RoomID, body string) *event.Event {
		return &event.Event{Type: event.EventMessage, RoomID: room, Sender: foreignUser, ID: hstest.NewEventID(), Timestamp: now,
			Content: event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: body}}}
	}
	inMgmt := msg(g.mgmt[lvlAdmin], "!pa login telegram-phone")
	inPortal := msg(g.portal, "!pa set-relay")
	botKey := g.br.Bot.String()
	invite := &event.Event{Type: event.StateMember, RoomID: "!evil:evil.example", Sender: foreignUser, ID: hstest.NewEventID(), Timestamp: now,
		StateKey: &botKey, Content: event.Content{Parsed: &event.MemberEventContent{Membership: event.MembershipInvite, IsDirect: true}}}
	if err := hstest.DeliverTransaction(ctx, g.br.Registration, "", &appservice.Transaction{Events: []*event.Event{inMgmt, inPortal, invite}}); err != nil {
		t.Fatal(err)
	}
	st := g.waitStatus(t, g.users[lvlAdmin], g.portal, inPortal.ID)
	if !isFailure(st) || !strings.Contains(st.Error+st.Message, "permission") {
		t.Errorf("status of the foreign user's command: %+v", st)
	}
	st = g.waitStatus(t, g.users[lvlAdmin], g.mgmt[lvlAdmin], inMgmt.ID)
	if !isFailure(st) {
		t.Errorf("status of the foreign user's login in the admin's room: %+v", st)
	}
	// The dropped commands are audited as refused (repeats within a minute folded into one
	// entry), and nothing of the foreign user's is audited any other way.
	e := g.wantAuditWhere(t, "the foreign user's refused command", func(e audit.Entry) bool {
		return e.Actor == foreignUser.String() && strings.HasPrefix(e.Action, "command")
	})
	if e.Outcome != "refused" || e.Details["reason"] != "no permission to use the bridge" {
		t.Errorf("the foreign user's command entry: %+v", e)
	}
	if n := g.countRows(t, `SELECT count(*) FROM passerelle_audit WHERE actor=$1 AND outcome<>'refused'`, foreignUser.String()); n != 0 {
		t.Errorf("%d audit entries for %s are not refusals: its commands reached the command processor", n, foreignUser)
	}
	if relay := g.portalRelay(t); relay != g.adminLogin {
		t.Errorf("portal relay changed to %q", relay)
	}
}

// permAuditExport: only admins may export the audit log; the export is a JSON-lines file with
// the entries recorded above.
func permAuditExport(t *testing.T, g *guarded) {
	for _, lvl := range []string{lvlCommands, lvlUser} {
		reply := g.br.Command(t, g.users[lvl], g.mgmt[lvl], "audit-export")
		if !strings.Contains(reply.Body, "That command is limited to bridge administrators") {
			t.Errorf("%s: audit-export got:\n%s", lvl, reply.Body)
		}
	}
	ctx := context.Background()
	admin := g.users[lvlAdmin]
	sent, err := admin.SendText(ctx, g.mgmt[lvlAdmin], "audit-export 1")
	if err != nil {
		t.Fatal(err)
	}
	file := g.br.WaitForEvent(t, admin, g.mgmt[lvlAdmin], sent.EventID, func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return evt.Sender == g.br.Bot && m != nil && m.MsgType == event.MsgFile
	})
	summary := g.br.WaitForEvent(t, admin, g.mgmt[lvlAdmin], sent.EventID, func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return evt.Sender == g.br.Bot && m != nil && strings.Contains(m.Body, "audit entries from the last 1 days")
	})
	content := file.Content.AsMessage()
	if content.Info == nil || content.Info.MimeType != "application/jsonl" || !strings.HasSuffix(content.FileName, ".jsonl") {
		t.Errorf("export file: %+v", content)
	}
	data := downloadMedia(t, g.br.Homeserver.URL, content.URL)
	var entries []audit.Entry
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var e audit.Entry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("export line %d is not an audit entry: %v: %q", i+1, err, line)
		}
		entries = append(entries, e)
	}
	if !strings.HasPrefix(summary.Content.AsMessage().Body, fmt.Sprintf("%d audit entries", len(entries))) {
		t.Errorf("summary %q but the file has %d entries", summary.Content.AsMessage().Body, len(entries))
	}
	found := false
	for _, e := range entries {
		if e.Action == "login" && e.Outcome == "ok" && e.Target == g.adminLogin {
			found = true
		}
		if actor := id.UserID(e.Actor); (actor == g.users[lvlUnlisted].UserID || actor == g.users[lvlRelay].UserID || actor == foreignUser) && e.Outcome != "refused" {
			t.Errorf("export has an entry for %s, whose events never reach commands, that is not a refusal: %+v", actor, e)
		}
		if line, _ := json.Marshal(e); strings.Contains(string(line), g.br.SharedSecret) {
			t.Errorf("the shared secret is in an audit entry: %+v", e)
		}
	}
	if !found {
		t.Errorf("the export lacks the admin's login; entries: %+v", entries)
	}
}

// permNothingElseChanged: after every attempt above, the admin's is the only login, and the
// users refused at the door have no management room.
func permNothingElseChanged(t *testing.T, g *guarded) {
	owners, err := bridgetest.QueryStrings(g.db, `SELECT user_mxid FROM user_login`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{hstest.UserID(levelUser[lvlAdmin]).String()}; !slices.Equal(owners, want) {
		t.Errorf("logins belong to %q, want only %q", owners, want)
	}
	for _, u := range []id.UserID{g.users[lvlUnlisted].UserID, g.users[lvlRelay].UserID, foreignUser} {
		rooms, err := bridgetest.QueryStrings(g.db, `SELECT management_room FROM "user" WHERE mxid=$1`, u.String())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rooms {
			if r != "" {
				t.Errorf("%s has management room %s", u, r)
			}
		}
	}
	relays, err := bridgetest.QueryStrings(g.db, `SELECT relay_login_id FROM portal WHERE relay_login_id IS NOT NULL AND relay_login_id <> ''`)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(relays, []string{g.adminLogin}) {
		t.Errorf("relays set: %q, want only the admin's on its portal", relays)
	}
}

// sendAndWait sends text as cli and waits for a bot message after it containing want
// (case-insensitive); other bot messages in between (a flow's instructions) are skipped.
func (g *guarded) sendAndWait(t *testing.T, cli *mautrix.Client, room id.RoomID, text, want string) *event.MessageEventContent {
	t.Helper()
	sent, err := cli.SendText(context.Background(), room, text)
	if err != nil {
		t.Fatalf("%s sends %q: %v", cli.UserID, text, err)
	}
	evt := g.br.WaitForEvent(t, cli, room, sent.EventID, func(evt *event.Event) bool {
		m := evt.Content.AsMessage()
		return evt.Sender == g.br.Bot && m != nil && strings.Contains(strings.ToLower(m.Body), strings.ToLower(want))
	})
	return evt.Content.AsMessage()
}

// wantAudit waits until the audit table has an entry by actor with action and outcome, and
// returns the newest such entry.
func (g *guarded) wantAudit(t *testing.T, actor id.UserID, action, outcome string) audit.Entry {
	t.Helper()
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	for {
		var e audit.Entry
		var details string
		err := g.db.QueryRow(`SELECT id, actor, action, network, target, outcome, details FROM passerelle_audit
			WHERE actor=$1 AND action=$2 AND outcome=$3 ORDER BY ts DESC LIMIT 1`, actor.String(), action, outcome).
			Scan(&e.ID, &e.Actor, &e.Action, &e.Network, &e.Target, &e.Outcome, &details)
		if err == nil {
			_ = json.Unmarshal([]byte(details), &e.Details)
			return e
		}
		if err != sql.ErrNoRows {
			t.Fatalf("read passerelle_audit: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry %s/%s by %s", action, outcome, actor)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// wantAuditWhere waits until an audit entry satisfies match and returns the newest such entry.
func (g *guarded) wantAuditWhere(t *testing.T, what string, match func(audit.Entry) bool) audit.Entry {
	t.Helper()
	deadline := time.Now().Add(bridgetest.ReplyTimeout)
	for {
		rows, err := g.db.Query(`SELECT id, actor, action, network, target, outcome, details FROM passerelle_audit ORDER BY ts DESC`)
		if err != nil {
			t.Fatalf("read passerelle_audit: %v", err)
		}
		var all []audit.Entry
		for rows.Next() {
			var e audit.Entry
			var details string
			if err = rows.Scan(&e.ID, &e.Actor, &e.Action, &e.Network, &e.Target, &e.Outcome, &details); err != nil {
				t.Fatalf("read passerelle_audit: %v", err)
			}
			_ = json.Unmarshal([]byte(details), &e.Details)
			all = append(all, e)
		}
		_ = rows.Close()
		for _, e := range all {
			if match(e) {
				return e
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit entry for %s; the table has %+v", what, all)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (g *guarded) countRows(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := g.db.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func (g *guarded) portalRelay(t *testing.T) string {
	t.Helper()
	relay, err := bridgetest.QueryStrings(g.db, `SELECT relay_login_id FROM portal WHERE mxid=$1`, g.portal.String())
	if err != nil || len(relay) != 1 {
		t.Fatalf("portal %s relay: %v, %v", g.portal, relay, err)
	}
	return relay[0]
}

// waitStatus waits for the bridge's com.beeper.message_send_status event about eventID.
func (g *guarded) waitStatus(t *testing.T, cli *mautrix.Client, room id.RoomID, eventID id.EventID) *event.BeeperMessageStatusEventContent {
	t.Helper()
	var st event.BeeperMessageStatusEventContent
	g.br.WaitForEvent(t, cli, room, "", func(evt *event.Event) bool {
		if evt.Type != event.BeeperMessageStatus || evt.Sender != g.br.Bot {
			return false
		}
		var c event.BeeperMessageStatusEventContent
		if json.Unmarshal(evt.Content.VeryRaw, &c) != nil || c.RelatesTo.EventID != eventID {
			return false
		}
		st = c
		return true
	})
	return &st
}

// isFailure reports whether a message status says the event was not bridged. bridgev2 marks
// permission refusals FAIL_RETRIABLE although retrying cannot help, so both failure statuses count.
func isFailure(st *event.BeeperMessageStatusEventContent) bool {
	return st.Status == event.MessageStatusFail || st.Status == event.MessageStatusRetriable
}

// downloadMedia fetches an mxc:// URI from the homeserver's media API.
func downloadMedia(t *testing.T, hsURL string, uri id.ContentURIString) []byte {
	t.Helper()
	parsed, err := uri.Parse()
	if err != nil {
		t.Fatalf("media URI %q: %v", uri, err)
	}
	resp, err := http.Get(fmt.Sprintf("%s/_matrix/media/v3/download/%s/%s", hsURL, parsed.Homeserver, parsed.FileID))
	if err != nil {
		t.Fatalf("download %s: %v", uri, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("download %s: HTTP %d: %v %s", uri, resp.StatusCode, err, data)
	}
	return data
}

// TestPermissions: when bridge.permissions names only some users, everybody else is turned away:
// the bot rejects their DM invite with a reason and the provisioning API refuses them, while a
// permitted user is served.
func TestPermissions(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			boss := hstest.UniqueLocalpart("boss")
			br := bridgetest.New(t, bridgetest.Options{
				Binary:      passerelleBin,
				Engine:      engine,
				Permissions: map[string]string{hstest.UserID(boss).String(): "admin"},
			})
			ctx := context.Background()

			intruder := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("intruder"))
			dm, err := intruder.CreateRoom(ctx, &mautrix.ReqCreateRoom{Preset: "trusted_private_chat", IsDirect: true, Invite: []id.UserID{br.Bot}})
			if err != nil {
				t.Fatal(err)
			}
			left := br.WaitForEvent(t, intruder, dm.RoomID, "", func(evt *event.Event) bool {
				return evt.Type == event.StateMember && evt.GetStateKey() == br.Bot.String() &&
					evt.Content.AsMember().Membership == event.MembershipLeave
			})
			if reason := left.Content.AsMember().Reason; !strings.Contains(reason, "permission") {
				t.Errorf("the bot rejected the intruder's invite with reason %q, want one about permission", reason)
			}
			if status, err := br.Provision(ctx, http.MethodGet, "/v3/login/flows", intruder.UserID, nil, nil); err == nil || status != http.StatusForbidden {
				t.Errorf("provisioning for a user without permission: HTTP %d (%v), want 403", status, err)
			}

			bossCli := br.Homeserver.NewUser(t, boss)
			room := br.OpenManagementRoom(t, bossCli)
			if help := br.Command(t, bossCli, room, "help"); !strings.Contains(help.Body, managementRoomHint) {
				t.Errorf("the permitted user's help says:\n%s", help.Body)
			}
		})
	}
}
