// Package portal owns Passerelle's identifier scheme: every portal, ghost, login and message ID
// in the shared bridgev2 tables starts with the network it belongs to ("wa." or "tg."), so one
// appservice and one database can hold both networks without their IDs ever colliding, and so the
// composite connector can route any ID to the right network without a lookup.
package portal

import (
	"errors"
	"fmt"
	"strings"

	"maunium.net/go/mautrix/bridgev2/networkid"
)

// Network names one of the bridged networks by its ID prefix.
type Network string

const (
	WhatsApp Network = "wa"
	Telegram Network = "tg"
)

// Networks lists every bridged network in the order identifiers are tried
// (a phone number is looked up on WhatsApp first, then on Telegram).
var Networks = []Network{WhatsApp, Telegram}

// ErrMalformedID is wrapped by every parse error, so callers can tell bad input from other failures.
var ErrMalformedID = errors.New("malformed ID")

// ErrForeignID is wrapped when an ID is well-formed but belongs to the other network.
var ErrForeignID = errors.New("ID belongs to another network")

// Name is the human name of the network, used in notices and errors.
func (n Network) Name() string {
	switch n {
	case WhatsApp:
		return "WhatsApp"
	case Telegram:
		return "Telegram"
	default:
		return string(n)
	}
}

// Valid reports whether n is one of the bridged networks.
func (n Network) Valid() bool { return n == WhatsApp || n == Telegram }

func (n Network) prefix() string { return string(n) + "." }

// NetworkOf returns the network an ID of any kind belongs to.
func NetworkOf(id string) (Network, error) {
	n, _, err := split(id)
	return n, err
}

// PortalNetwork is NetworkOf for a portal key, with the portal named in the error.
func PortalNetwork(key networkid.PortalKey) (Network, error) {
	n, err := NetworkOf(string(key.ID))
	if err != nil {
		return "", fmt.Errorf("portal %s: %w", key.ID, err)
	}
	return n, nil
}

// Require returns an error unless id belongs to network n. Connectors call it at every entry
// point that receives an ID from bridgev2, because bridgev2 may fall back to any of a user's
// logins, including one on the other network.
func Require(n Network, kind, id string) error {
	got, rest, err := split(id)
	if err != nil {
		return fmt.Errorf("%s %q: %w", kind, id, err)
	}
	if got != n {
		return fmt.Errorf("%s %q is a %s ID, not a %s one: %w", kind, id, got.Name(), n.Name(), ErrForeignID)
	}
	if rest == "" {
		return fmt.Errorf("%s %q: nothing after the %q prefix: %w", kind, id, n.prefix(), ErrMalformedID)
	}
	return nil
}

func split(id string) (Network, string, error) {
	before, after, ok := strings.Cut(id, ".")
	if !ok || !Network(before).Valid() {
		return "", "", fmt.Errorf("%q does not start with %q or %q: %w", id, WhatsApp.prefix(), Telegram.prefix(), ErrMalformedID)
	}
	return Network(before), after, nil
}

// strip checks the prefix of id and returns what follows it.
func strip(n Network, kind, id string) (string, error) {
	if err := Require(n, kind, id); err != nil {
		return "", err
	}
	return id[len(n.prefix()):], nil
}
