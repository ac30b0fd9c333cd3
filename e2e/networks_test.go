package e2e

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// TestNetworkSwitch: an operator who turns one network off (network.<name>.enabled: false) gets a
// bridge that offers only the other network's logins, in chat and in the provisioning API.
func TestNetworkSwitch(t *testing.T) {
	cases := []struct {
		disable string
		want    []string
	}{
		{"whatsapp", []string{"telegram-phone", "telegram-qr", "telegram-bot"}},
		{"telegram", []string{"whatsapp-qr", "whatsapp-phone"}},
	}
	for _, engine := range dbtest.Engines {
		for _, tc := range cases {
			t.Run(engine+"/without-"+tc.disable, func(t *testing.T) {
				t.Parallel()
				br := bridgetest.New(t, bridgetest.Options{
					Binary: passerelleBin,
					Engine: engine,
					Edit: func(cfg bridgetest.Config) error {
						return cfg.Set(false, "network", tc.disable, "enabled")
					},
				})
				var resp struct {
					Flows []struct {
						ID string `json:"id"`
					} `json:"flows"`
				}
				user := br.Homeserver.NewUser(t, hstest.UniqueLocalpart("switch"))
				if _, err := br.Provision(context.Background(), http.MethodGet, "/v3/login/flows", user.UserID, nil, &resp); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, f := range resp.Flows {
					got = append(got, f.ID)
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("provisioning flows with %s off: %q, want %q", tc.disable, got, tc.want)
				}

				room := br.OpenManagementRoom(t, user)
				login := br.Command(t, user, room, "login")
				got = got[:0]
				for _, m := range flowLine.FindAllStringSubmatch(login.Body, -1) {
					got = append(got, m[1])
				}
				if !slices.Equal(got, tc.want) {
					t.Errorf("login with %s off offers %q, want %q; answer:\n%s", tc.disable, got, tc.want, login.Body)
				}
			})
		}
	}
}
