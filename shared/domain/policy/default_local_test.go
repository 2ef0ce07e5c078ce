//go:build lanyardlocal

package policy_test

import (
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// A build for lanyard local (go test -tags lanyardlocal) carries the local overlay: Default's
// allow-list is the production one and the overlay's entries.
func TestDefaultCarriesTheLocalOverlay(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	o, err := policy.ParseOverlay(policyfile.LocalJSON())
	if err != nil {
		t.Fatal(err)
	}
	prod := mustParse(t, policyfile.JSON())
	if len(p.Accounts) != len(prod.Accounts)+len(o.Accounts) {
		t.Fatalf("%d allow-list entries, want %d + %d", len(p.Accounts), len(prod.Accounts), len(o.Accounts))
	}
	for _, a := range o.Accounts {
		if got, ok := p.AccountEntry(a.AccountID); !ok || got.Tier != a.Tier {
			t.Errorf("account %s: %+v, %v", a.AccountID, got, ok)
		}
	}
	if p.Digest() == prod.Digest() {
		t.Error("the digest does not cover the overlay")
	}
}
