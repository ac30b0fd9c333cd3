package e2e

import (
	"strings"
	"testing"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// TestSharedHomeserver runs two bridges with distinct appservice IDs, bots and namespaces on one
// homeserver (bridgetest.Options.Homeserver): both bots answer, each in its own management room,
// including the first bridge after the homeserver was restarted to load the second registration.
func TestSharedHomeserver(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			hs := hstest.New(t, hstest.Options{})
			first := bridgetest.New(t, bridgetest.Options{Binary: passerelleBin, Engine: engine, Homeserver: hs})
			second := bridgetest.New(t, bridgetest.Options{
				Binary:     passerelleBin,
				Engine:     engine,
				Homeserver: hs,
				Edit: func(cfg bridgetest.Config) error {
					for _, s := range []struct {
						value string
						path  []string
					}{
						{"passerelle2", []string{"appservice", "id"}},
						{"passerelle2bot", []string{"appservice", "bot", "username"}},
						{"passerelle2_{{.}}", []string{"appservice", "username_template"}},
					} {
						if err := cfg.Set(s.value, s.path...); err != nil {
							return err
						}
					}
					return nil
				},
			})
			if first.Bot == second.Bot {
				t.Fatalf("both bridges use bot %s", first.Bot)
			}
			user := hs.NewUser(t, hstest.UniqueLocalpart("shared"))
			for _, br := range []*bridgetest.Bridge{first, second} {
				room := br.OpenManagementRoom(t, user)
				if help := br.Command(t, user, room, "help"); !strings.Contains(help.Body, managementRoomHint) {
					t.Errorf("%s: help says:\n%s", br.Bot, help.Body)
				}
			}
		})
	}
}
