package e2e

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/passerelle-bridge/passerelle/e2e/bridgetest"
	"github.com/passerelle-bridge/passerelle/internal/dbtest"
	"github.com/passerelle-bridge/passerelle/internal/hstest"
)

// TestKeptDirectories is the demo mode: homeserver and bridge in directories that outlive them
// (hstest.Options.Dir, bridgetest.Options.Dir). Launched a second time on the same directories,
// the user's token, room and management room are all still there.
func TestKeptDirectories(t *testing.T) {
	for _, engine := range dbtest.Engines {
		t.Run(engine, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			root := t.TempDir()
			var dbURI string
			if engine == "postgres" {
				dbURI = dbtest.NewPostgresDB(t)
			}
			launch := func() (*hstest.Homeserver, *bridgetest.Bridge) {
				hs, err := hstest.Launch(ctx, hstest.Options{Dir: filepath.Join(root, "dendrite")})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = hs.Close() })
				br, err := bridgetest.Launch(ctx, bridgetest.Options{
					Binary: passerelleBin, Engine: engine, DatabaseURI: dbURI,
					Dir: filepath.Join(root, "bridge"), Homeserver: hs,
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = br.Close() })
				return hs, br
			}

			hs, br := launch()
			user := hs.NewUser(t, "demo")
			room := br.OpenManagementRoom(t, user)
			if err := br.Close(); err != nil {
				t.Fatal(err)
			}
			if err := hs.Close(); err != nil {
				t.Fatal(err)
			}

			hs2, br2 := launch()
			if br2.Bot != br.Bot || br2.Registration.AppToken != br.Registration.AppToken {
				t.Errorf("the relaunched bridge did not reuse its registration")
			}
			cli, err := hs2.Client(user.UserID, user.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			help := br2.Command(t, cli, room, "help")
			if !strings.Contains(help.Body, managementRoomHint) {
				t.Errorf("after relaunch, help in the old management room says:\n%s", help.Body)
			}
		})
	}
}
