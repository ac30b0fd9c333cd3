package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
)

// TestExamplePublicAddress starts the bridge with appservice.public_address left at the example
// value, as most operators will (it only matters for public media): the bridge must still start
// and serve /metrics on its private listener.
func TestExamplePublicAddress(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			opts := bridgetest.Options{
				Binary: passerelleBin,
				Engine: engine,
				Edit: func(cfg bridgetest.Config) error {
					return cfg.Set("https://bridge.example.com", "appservice", "public_address")
				},
			}
			if engine == "postgres" {
				opts.DatabaseURI = dbtest.NewPostgresDB(t)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			br, err := bridgetest.Launch(ctx, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = br.Close() })
			user := br.Homeserver.NewUser(t, "defaults")
			room := br.OpenManagementRoom(t, user)
			if help := br.Command(t, user, room, "help"); !strings.Contains(help.Body, managementRoomHint) {
				t.Errorf("help says:\n%s", help.Body)
			}
		})
	}
}
