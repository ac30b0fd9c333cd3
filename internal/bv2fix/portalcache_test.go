package bv2fix

import (
	"reflect"
	"testing"

	"maunium.net/go/mautrix/bridgev2"
)

// TestEnsurePortalCache: a UserLogin built the way NewLogin builds it has no in-portal cache;
// the workaround gives it one, once. If bridgev2 renames or retypes the field, the first check
// fails: look whether NewLogin now sets it, and remove the workaround if so.
func TestEnsurePortalCache(t *testing.T) {
	f, ok := reflect.TypeFor[bridgev2.UserLogin]().FieldByName("inPortalCache")
	if !ok {
		t.Fatal("bridgev2.UserLogin has no inPortalCache field any more: check whether NewLogin sets its cache now and remove EnsurePortalCache")
	}
	login := &bridgev2.UserLogin{} // what NewLogin leaves: every field it sets, but not this one
	if !EnsurePortalCache(login) {
		t.Fatalf("the cache (%s) was not filled", f.Type)
	}
	cache := reflect.ValueOf(login).Elem().FieldByName("inPortalCache")
	if cache.IsNil() {
		t.Fatal("the cache is still nil")
	}
	before := cache.Pointer()
	if EnsurePortalCache(login) {
		t.Fatal("a filled cache was replaced")
	}
	if cache.Pointer() != before {
		t.Fatal("the cache changed on the second call")
	}
	if EnsurePortalCache(nil) {
		t.Fatal("nil login reported as fixed")
	}
}
