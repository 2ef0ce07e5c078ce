//go:build !lanyardlocal

package policy_test

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// In a build without the local overlay (every Lambda build), Default is policy/policy.json as
// committed: its digest is the file's.
func TestDefaultIsTheCommittedFile(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(policyfile.JSON())
	if want := "sha256:" + hex.EncodeToString(sum[:]); p.Digest() != want {
		t.Errorf("digest %s, want %s", p.Digest(), want)
	}
}

// The production policy allow-lists neither LocalStack's account nor an example id, nor an
// account of the local overlay: Default (in a build without the overlay) is the production
// policy as committed, and it passes CheckProduction.
func TestProductionPolicyAdmitsNoLocalAccount(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	o, err := policy.ParseOverlay(localOverlayFile(t))
	if err != nil {
		t.Fatalf("policy/local.json: %v", err)
	}
	if err := policy.CheckProduction(p, o); err != nil {
		t.Errorf("policy/policy.json:\n%v", err)
	}
	if _, ok := p.AccountEntry("000000000000"); ok {
		t.Error("the production policy allow-lists LocalStack's account")
	}
	for _, a := range o.Accounts {
		if _, ok := p.AccountEntry(a.AccountID); ok {
			t.Errorf("Default() allow-lists the local overlay's %s in a build without %s", a.AccountID, policy.LocalBuildTag)
		}
	}
}
