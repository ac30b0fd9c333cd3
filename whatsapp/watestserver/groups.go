package watestserver

import (
	"sort"

	waBinary "go.mau.fi/whatsmeow/binary"
)

// group is a WhatsApp group: its members by phone number, with admin flags.
type group struct {
	id      string
	name    string
	topic   string
	creator string
	created int64
	members map[string]bool // phone → admin
}

func (g *group) hasMember(phone string) bool {
	_, ok := g.members[phone]
	return ok
}

func (g *group) memberPhones() []string {
	out := make([]string, 0, len(g.members))
	for p := range g.members {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func (srv *Server) handleGroupIQ(c *conn, node *waBinary.Node) {
	srv.replyIQError(c, node, 501, "feature-not-implemented")
}
