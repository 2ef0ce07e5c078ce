package registry

import (
	"reflect"
	"testing"
)

// CheckCurrent compares scopes with what Entry.Item stored: the same list, in any order given.
func TestStoredScopesAreWhatItemStores(t *testing.T) {
	for _, scopes := range [][]string{nil, {}, {"partners:read"}, {"usage:read", "credentials:rotate", "partners:read"}} {
		item, err := Entry{KeyID: "lk_test_0123456789abcdef", Scopes: scopes}.Item()
		if err != nil {
			t.Fatal(err)
		}
		if got := storedScopes(scopes); !reflect.DeepEqual(got, item[AttrScopes]) {
			t.Errorf("scopes %q: condition value %#v, stored %#v", scopes, got, item[AttrScopes])
		}
	}
}
