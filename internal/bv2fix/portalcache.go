// Package bv2fix works around defects of mautrix bridgev2 v0.32.0 that cost Passerelle's users
// something and that the library's public API cannot avoid. Each workaround is narrow, checks
// that the library still has the shape it corrects (and does nothing otherwise), and has a test
// that fails when an upgraded library makes it unnecessary or impossible, so it is removed then.
package bv2fix

import (
	"reflect"
	"unsafe"

	"go.mau.fi/util/exsync"
	"maunium.net/go/mautrix/bridgev2"
	"maunium.net/go/mautrix/bridgev2/networkid"
)

// EnsurePortalCache gives a login made by UserLogin.NewLogin the in-portal cache that
// bridgev2 gives only to logins loaded at start-up. Without it, UserLogin.MarkInPortal, which
// bridgev2 calls for every remote event before handing it to the portal, finds no cache and
// reads the user_portal row and the user's room membership from the database every time: two
// queries (four round trips with lib/pq) on the path of every incoming message of an account
// logged in since the bridge last started. It reports whether it filled the cache.
func EnsurePortalCache(login *bridgev2.UserLogin) bool {
	if login == nil {
		return false
	}
	f := reflect.ValueOf(login).Elem().FieldByName("inPortalCache")
	if !f.IsValid() || f.Type() != reflect.TypeFor[*exsync.Set[networkid.PortalKey]]() {
		return false
	}
	ptr := (**exsync.Set[networkid.PortalKey])(unsafe.Pointer(f.UnsafeAddr()))
	if *ptr != nil {
		return false
	}
	*ptr = exsync.NewSet[networkid.PortalKey]()
	return true
}
