package whatsapp

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"go.mau.fi/whatsmeow/types"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"

	"github.com/passerelle-bridge/passerelle/portal"
)

var (
	_ bridgev2.IdentifierResolvingNetworkAPI = (*Client)(nil)
	_ bridgev2.ContactListingNetworkAPI      = (*Client)(nil)
)

// ResolveIdentifier finds a WhatsApp user by phone number (or a wa. ghost ID) and, with
// createChat, their DM portal. Identifiers WhatsApp cannot reach (Telegram IDs, usernames,
// numbers not on WhatsApp) give ErrResolveIdentifierTryNext so the next network is asked.
func (c *Client) ResolveIdentifier(ctx context.Context, identifier string, createChat bool) (*bridgev2.ResolveIdentifierResponse, error) {
	jid, err := c.parseIdentifier(identifier)
	if err != nil {
		return nil, err
	}
	if jid.Server == types.DefaultUserServer {
		if err = c.connected(); err != nil {
			return nil, err
		}
		resp, err := c.WA.IsOnWhatsApp(ctx, []string{"+" + jid.User})
		if err != nil {
			return nil, fmt.Errorf("check whether +%s is on WhatsApp: %w", jid.User, err)
		}
		if len(resp) == 0 || !resp[0].IsIn {
			return nil, fmt.Errorf("+%s is not on WhatsApp: %w", jid.User, bridgev2.ErrResolveIdentifierTryNext)
		}
		jid = resp[0].JID.ToNonAD()
	}
	userID := portal.WAUserID(jid)
	ghost, err := c.Main.Bridge.GetGhostByID(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("get ghost %s: %w", userID, err)
	}
	out := &bridgev2.ResolveIdentifierResponse{Ghost: ghost, UserID: userID}
	if info, err := c.GetUserInfo(ctx, ghost); err == nil {
		out.UserInfo = info
	}
	if createChat {
		out.Chat = &bridgev2.CreateChatResponse{PortalKey: c.portalKey(jid)}
	}
	return out, nil
}

// parseIdentifier accepts "+33 6 12 34 56 78", "33612345678", "wa.33612345678" and
// "wa.lid-123"; anything else is for another network.
func (c *Client) parseIdentifier(identifier string) (types.JID, error) {
	identifier = strings.TrimSpace(identifier)
	if n, err := portal.NetworkOf(identifier); err == nil {
		if n != portal.WhatsApp {
			return types.EmptyJID, fmt.Errorf("%q: %w", identifier, bridgev2.ErrResolveIdentifierTryNext)
		}
		return portal.ParseWAUserID(networkid.UserID(identifier))
	}
	digits := strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return r
		case r == '+' || r == ' ' || r == '-' || r == '(' || r == ')' || r == '.':
			return -1
		}
		return 'x'
	}, identifier)
	if strings.Contains(digits, "x") || len(digits) < 6 || len(digits) > 15 || strings.HasPrefix(digits, "0") {
		return types.EmptyJID, fmt.Errorf("%q is not an international phone number: %w", identifier, bridgev2.ErrResolveIdentifierTryNext)
	}
	return types.NewJID(digits, types.DefaultUserServer), nil
}

// GetContactList lists the people saved in the phone's address book, as whatsmeow's contact
// store has them from the account's app state, with the name the phone shows and their DM portal.
// People only known by the name they chose (push name: anyone who wrote once) are not contacts
// and are left out. It reads the store only, so it works while disconnected; it is what the
// provisioning API's contact list and the importer's sender matching use.
func (c *Client) GetContactList(ctx context.Context) ([]*bridgev2.ResolveIdentifierResponse, error) {
	if c.WA == nil || c.WA.Store.Contacts == nil {
		return nil, fmt.Errorf("list WhatsApp contacts: %w", errNotConnected)
	}
	all, err := c.WA.Store.Contacts.GetAllContacts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list WhatsApp contacts: %w", err)
	}
	// One entry per person: a contact saved under both its LID and its phone number is listed
	// once, under the phone number, with whichever entry has the saved name.
	byPerson := map[types.JID]types.ContactInfo{}
	for jid, info := range all {
		if info.FullName == "" && info.FirstName == "" {
			continue
		}
		if jid.Server != types.DefaultUserServer && jid.Server != types.HiddenUserServer {
			continue
		}
		person := c.canonical(ctx, jid)
		if person == c.ownJID() {
			continue
		}
		if prev, ok := byPerson[person]; ok && prev.FullName != "" {
			continue
		}
		byPerson[person] = info
	}
	people := make([]types.JID, 0, len(byPerson))
	for jid := range byPerson {
		people = append(people, jid)
	}
	slices.SortFunc(people, func(a, b types.JID) int { return strings.Compare(a.String(), b.String()) })
	out := make([]*bridgev2.ResolveIdentifierResponse, 0, len(people))
	for _, jid := range people {
		userID := portal.WAUserID(jid)
		ghost, err := c.Main.Bridge.GetGhostByID(ctx, userID)
		if err != nil {
			return nil, fmt.Errorf("get ghost of contact %s: %w", jid, err)
		}
		name := DisplayName(jid, byPerson[jid])
		info := &bridgev2.UserInfo{Name: &name}
		if jid.Server == types.DefaultUserServer {
			info.Identifiers = []string{"tel:+" + jid.User}
		}
		out = append(out, &bridgev2.ResolveIdentifierResponse{
			Ghost:    ghost,
			UserID:   userID,
			UserInfo: info,
			Chat:     &bridgev2.CreateChatResponse{PortalKey: c.portalKey(jid)},
		})
	}
	return out, nil
}
