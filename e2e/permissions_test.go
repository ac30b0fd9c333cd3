package e2e

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

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
