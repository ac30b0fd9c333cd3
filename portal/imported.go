package portal

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/bridgev2/networkid"
)

// Imported ghosts stand for people an app export names but that cannot be matched to an account
// on the network (a WhatsApp contact shown only by the exporter's address-book name). Their IDs
// are the network prefix, then "imp.", then a hash: "wa.imp.mfrggzdfmztwq2lknnwg23tpobyxe43u".
// The "imp." namespace can never collide with real ghosts (WhatsApp ghosts are digits or
// "lid-<digits>", Telegram ghosts digits or "c<digits>"), and the network's own parsers reject
// it, so a connector never acts on an imported ghost as if it were a real account.

const importedNamespace = "imp."

var importedEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// ImportedUserID is the ghost of a sender known only by name in an export. scope keeps people of
// the same name apart where they are different people: the importer passes the importing user's
// Matrix ID, since names in an export come from that person's address book. The name is trimmed
// and compared case-insensitively, so "Anna " and "anna" are one ghost.
func ImportedUserID(n Network, scope, name string) networkid.UserID {
	norm := strings.ToLower(strings.Join(strings.Fields(name), " "))
	sum := sha256.Sum256([]byte(string(n) + "\x00" + scope + "\x00" + norm))
	return networkid.UserID(n.prefix() + importedNamespace + strings.ToLower(importedEncoding.EncodeToString(sum[:16])))
}

// IsImportedUserID reports whether id is a well-formed imported ghost of any network.
func IsImportedUserID(id networkid.UserID) bool {
	_, err := ParseImportedUserID(id)
	return err == nil
}

// ParseImportedUserID returns the network of an imported ghost ID, or an error wrapping
// ErrMalformedID when id is not one.
func ParseImportedUserID(id networkid.UserID) (Network, error) {
	n, rest, err := split(string(id))
	if err != nil {
		return "", fmt.Errorf("imported user ID %q: %w", id, err)
	}
	hash, ok := strings.CutPrefix(rest, importedNamespace)
	if !ok {
		return "", fmt.Errorf("imported user ID %q: no %q after the network prefix: %w", id, importedNamespace, ErrMalformedID)
	}
	raw, err := importedEncoding.DecodeString(strings.ToUpper(hash))
	if err != nil || len(raw) != 16 || strings.ToLower(hash) != hash {
		return "", fmt.Errorf("imported user ID %q: %q is not a 26-character lowercase base32 hash: %w", id, hash, ErrMalformedID)
	}
	return n, nil
}
