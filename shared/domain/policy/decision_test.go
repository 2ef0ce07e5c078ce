package policy_test

import (
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

func standardTier(t *testing.T) policy.Tier {
	t.Helper()
	tier, ok := mustParse(t, policyfile.JSON()).Tier("standard")
	if !ok {
		t.Fatal("no standard tier")
	}
	return tier
}

func TestAllows(t *testing.T) {
	t.Parallel()
	const allowance = "[inventory:read orders:read orders:write shipments:read]"
	tests := []struct {
		name          string
		requested     []string
		ok            bool
		denied        []string
		justification string
	}{
		{"subset", []string{"orders:read"}, true, nil,
			"scopes [orders:read] within tier standard allowance " + allowance},
		{"the whole allowance", []string{"shipments:read", "orders:write", "orders:read", "inventory:read"}, true, nil,
			"scopes " + allowance + " within tier standard allowance " + allowance},
		{"duplicates count once", []string{"orders:read", "orders:write", "orders:read"}, true, nil,
			"scopes [orders:read orders:write] within tier standard allowance " + allowance},
		{"superset", []string{"webhooks:write", "orders:read", "shipments:write"}, false, []string{"shipments:write", "webhooks:write"},
			"scopes [shipments:write webhooks:write] outside tier standard allowance " + allowance},
		{"disjoint", []string{"webhooks:write"}, false, []string{"webhooks:write"},
			"scopes [webhooks:write] outside tier standard allowance " + allowance},
		{"empty request", []string{}, false, nil,
			"no scopes requested; tier standard allowance " + allowance},
		{"nil request", nil, false, nil,
			"no scopes requested; tier standard allowance " + allowance},
		{"malformed scopes are denied and quoted", []string{"ORDERS:READ", "orders:read\nforged line", ""}, false, []string{"", "ORDERS:READ", "orders:read\nforged line"},
			`scopes ["" "ORDERS:READ" "orders:read\nforged line"] outside tier standard allowance ` + allowance},
	}
	tier := standardTier(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := slices.Clone(tt.requested)
			ok, denied := tier.Allows(in)
			if ok != tt.ok || !slices.Equal(denied, tt.denied) {
				t.Errorf("Allows = %v, %q; want %v, %q", ok, denied, tt.ok, tt.denied)
			}
			if !slices.Equal(in, tt.requested) {
				t.Errorf("Allows changed its argument: %q", in)
			}
			d := tier.Decide(tt.requested)
			if d.Allowed != tt.ok || d.Justification != tt.justification {
				t.Errorf("Decide justification\n  got  %s\n  want %s", d.Justification, tt.justification)
			}
			if strings.ContainsAny(d.Justification, "\n\r") {
				t.Errorf("justification spans lines: %q", d.Justification)
			}
		})
	}
}

// The same request against the same tier always yields the same decision, whatever the order
// of the request or of the tier's scopes in the file.
func TestDecisionIsDeterministic(t *testing.T) {
	t.Parallel()
	tier := standardTier(t)
	requested := []string{"orders:write", "webhooks:write", "orders:read", "inventory:read", "admin:write", "orders:read"}
	want := tier.Decide(requested)
	// Every rotation of the request, forwards and backwards, against every rotation of the
	// tier's scopes.
	orders := func(s []string) [][]string {
		var out [][]string
		for k := range s {
			r := append(slices.Clone(s[k:]), s[:k]...)
			back := slices.Clone(r)
			slices.Reverse(back)
			out = append(out, r, back)
		}
		return out
	}
	for _, r := range orders(requested) {
		for _, scopes := range orders(tier.Scopes) {
			reordered := tier
			reordered.Scopes = scopes
			if got := reordered.Decide(r); !reflect.DeepEqual(got, want) {
				t.Fatalf("request %q against %q:\n  got  %+v\n  want %+v", r, scopes, got, want)
			}
		}
	}
	if !slices.IsSorted(want.Denied) || !slices.IsSorted(want.Requested) || !slices.IsSorted(want.Allowance) {
		t.Errorf("lists not sorted: %+v", want)
	}
}

// Policy.Decide stamps the revision and digest, and denies an undeclared tier.
func TestPolicyDecide(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	d := p.Decide("sandbox", []string{"orders:read"})
	if !d.Allowed || d.PolicyRevision != p.Revision || d.PolicyDigest != p.Digest() ||
		d.Justification != "scopes [orders:read] within tier sandbox allowance [inventory:read orders:read] (policy revision "+strconv.Itoa(p.Revision)+")" {
		t.Errorf("Decide(sandbox) = %+v", d)
	}
	d = p.Decide("gold", []string{"orders:read"})
	if d.Allowed || !slices.Equal(d.Denied, []string{"orders:read"}) || d.Justification != "tier gold is not declared (policy revision "+strconv.Itoa(p.Revision)+")" {
		t.Errorf("Decide(gold) = %+v", d)
	}
	d = p.Decide("Gold\n", nil)
	if d.Allowed || d.Justification != `tier "Gold\n" is not declared (policy revision `+strconv.Itoa(p.Revision)+")" {
		t.Errorf("Decide(Gold\\n) = %+v", d)
	}
}

// A hostile request cannot make the justification grow without bound.
func TestJustificationIsBounded(t *testing.T) {
	t.Parallel()
	var requested []string
	for i := range 500 {
		requested = append(requested, strings.Repeat("x", 1000)+string(rune('a'+i%26))+strings.Repeat("y", i))
	}
	d := standardTier(t).Decide(requested)
	if d.Allowed || len(d.Denied) != 500 {
		t.Fatalf("allowed %v, %d denied", d.Allowed, len(d.Denied))
	}
	if n := len(d.Justification); n > 2000 { // the Partner Onboarded event's limit
		t.Errorf("justification is %d bytes", n)
	}
	if !strings.Contains(d.Justification, "…+480]") {
		t.Errorf("justification does not count what it leaves out: %s", d.Justification)
	}
}
