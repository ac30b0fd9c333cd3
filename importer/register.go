package importer

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/commands"
	"maunium.net/go/mautrix/id"

	"github.com/passerelle-bridge/passerelle/internal/mxconn"
	"github.com/passerelle-bridge/passerelle/portal"
)

// ImportPath is the HTTP endpoint the CLI posts exports to, on the bridge's appservice listener
// next to the provisioning API, authenticated with the provisioning shared secret.
const ImportPath = "/_matrix/provision/v3/passerelle/import"

var (
	registeredMu sync.Mutex
	registered   = map[*bridgev2.Bridge]*Importer{}
)

// RegisterCommands adds the `import` management command and the import endpoint to a bridge.
// Call it once the bridge's Matrix connector exists (from the network connector's Init, or right
// after mxmain's Init) and before the command processor is wrapped. Calling it again for the same
// bridge does nothing, and returns the same Importer.
func RegisterCommands(br *bridgev2.Bridge) *Importer {
	registeredMu.Lock()
	defer registeredMu.Unlock()
	if im, ok := registered[br]; ok {
		return im
	}
	im := New(br)
	registered[br] = im
	if proc, ok := br.Commands.(*commands.Processor); ok {
		proc.AddHandlers(im.commandHandler())
	} else {
		im.log.Warn().Type("processor", br.Commands).Msg("Command processor is not bridgev2's; the import command is not available")
	}
	if mc, ok := mxconn.Of(br.Matrix); ok && mc.AS != nil && mc.AS.Router != nil {
		mc.AS.Router.HandleFunc("POST "+ImportPath, im.serveImport)
	} else {
		im.log.Warn().Msg("No appservice HTTP router; `passerelle import` cannot reach this bridge")
	}
	return im
}

// Options are the import settings shared by the command, the endpoint and the CLI.
type Options struct {
	Room      string
	Chat      string
	Me        string
	TZ        string
	DateOrder string
}

// request builds a Request for user from options, checking each one.
func (o Options) request(user *bridgev2.User, network string) (*Request, error) {
	req := &Request{User: user, Chat: o.Chat, Me: o.Me}
	switch strings.ToLower(network) {
	case "telegram", "tg":
		req.Network = portal.Telegram
	case "whatsapp", "wa":
		req.Network = portal.WhatsApp
	default:
		return nil, fmt.Errorf("network %q: use telegram or whatsapp", network)
	}
	if o.Room != "" {
		if !strings.HasPrefix(o.Room, "!") {
			return nil, fmt.Errorf("room %q: give the room ID (!…), found in the room's settings", o.Room)
		}
		req.Room = id.RoomID(o.Room)
	}
	if o.Chat != "" && req.Network != portal.WhatsApp {
		return nil, fmt.Errorf("chat: only WhatsApp exports need it; Telegram exports name their chat")
	}
	if o.Chat != "" {
		if _, err := parseWAChat(o.Chat); err != nil {
			return nil, err
		}
	}
	if o.TZ != "" {
		loc, err := time.LoadLocation(o.TZ)
		if err != nil {
			return nil, fmt.Errorf("tz %q: not a time zone name like Europe/Paris: %w", o.TZ, err)
		}
		req.Location = loc
	}
	if o.DateOrder != "" {
		if req.Network != portal.WhatsApp {
			return nil, fmt.Errorf("date order: only WhatsApp exports need it")
		}
		order, err := ParseDateOrder(o.DateOrder)
		if err != nil {
			return nil, err
		}
		req.DateOrder = order
	}
	return req, nil
}

// SummaryText is a summary for people: counts, rooms and the first failures.
func SummaryText(s *Summary) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "Import finished in %s: %d imported, %d skipped (already imported), %d failed.",
		(time.Duration(s.Duration * float64(time.Second))).Round(100*time.Millisecond), s.Imported, s.Skipped, s.Failed)
	if s.Stopped != "" {
		fmt.Fprintf(&sb, "\nStopped early: %s", s.Stopped)
	}
	for _, r := range s.Rooms {
		fmt.Fprintf(&sb, "\n- %s → %s (%s): %d imported, %d skipped, %d failed", r.Chat, r.RoomID, r.Kind, r.Imported, r.Skipped, r.Failed)
		if r.Note != "" {
			fmt.Fprintf(&sb, "; %s", r.Note)
		}
	}
	for i, f := range s.Failures {
		if i == 10 {
			fmt.Fprintf(&sb, "\n… and %d more failures", s.Failed-10)
			break
		}
		fmt.Fprintf(&sb, "\n- failed: %s: %s", f.Pos, f.Reason)
	}
	return sb.String()
}
