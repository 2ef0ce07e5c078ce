package policy_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

const stage = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod"

func grant(resources ...string) map[string]any {
	return map[string]any{"actions": []any{policy.InvokeAction}, "resources": resources}
}

func TestPermissions(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	tests := []struct {
		name   string
		scopes []string
		want   []string // resources after the stage ARN
	}{
		{"one scope", []string{"orders:read"}, []string{"GET/v1/orders", "GET/v1/orders/*"}},
		{"sorted across scopes", []string{"orders:write", "inventory:read"},
			[]string{"GET/v1/inventory", "GET/v1/inventory/*", "PATCH/v1/orders/*", "POST/v1/orders", "POST/v1/orders/*/cancel"}},
		{"order and repeats do not matter", []string{"inventory:read", "orders:write", "inventory:read"},
			[]string{"GET/v1/inventory", "GET/v1/inventory/*", "PATCH/v1/orders/*", "POST/v1/orders", "POST/v1/orders/*/cancel"}},
		{"a scope outside the catalog grants nothing", []string{"orders:read", "orders:delete"}, []string{"GET/v1/orders", "GET/v1/orders/*"}},
		{"no scope", nil, nil},
	}
	for _, tt := range tests {
		got := p.Permissions(stage, tt.scopes)
		if tt.want == nil {
			if len(got) != 0 {
				t.Errorf("%s: %+v, want no statement", tt.name, got)
			}
			continue
		}
		var want []string
		for _, r := range tt.want {
			want = append(want, stage+"/"+r)
		}
		if len(got) != 1 || got[0].Effect != "Allow" || !reflect.DeepEqual(got[0].Action, []string{"execute-api:Invoke"}) || !reflect.DeepEqual(got[0].Resource, want) {
			t.Errorf("%s:\n got %+v\nwant one Allow of execute-api:Invoke on %v", tt.name, got, want)
		}
	}
}

// Resources shared by two scopes appear once; grants of distinct action sets are distinct
// statements in a fixed order.
func TestPermissionsMergesAndDeduplicates(t *testing.T) {
	t.Parallel()
	p := mustParse(t, apply(t, production(t),
		set("/scopes/0/grants/-", grant("GET/v1/orders", "GET/v1/catalogue")),
	))
	got := p.Permissions(stage, []string{"orders:read", "inventory:read"})
	want := []policy.Statement{{Effect: "Allow", Action: []string{policy.InvokeAction}, Resource: []string{
		stage + "/GET/v1/catalogue", stage + "/GET/v1/inventory", stage + "/GET/v1/inventory/*", stage + "/GET/v1/orders", stage + "/GET/v1/orders/*",
	}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v\nwant %+v", got, want)
	}
}

func TestSessionPolicy(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	doc, err := p.SessionPolicy(stage, []string{"orders:read"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":["execute-api:Invoke"],"Resource":["` +
		stage + `/GET/v1/orders","` + stage + `/GET/v1/orders/*"]}]}`
	if doc != want {
		t.Errorf("got  %s\nwant %s", doc, want)
	}
	again, _ := p.SessionPolicy(stage, []string{"orders:read", "orders:read"})
	if again != doc {
		t.Error("the same scopes gave another document")
	}
	if _, err := p.SessionPolicy(stage, []string{"orders:delete"}); !errors.Is(err, policy.ErrNoPermissions) {
		t.Errorf("scopes outside the catalog: %v, want ErrNoPermissions", err)
	}
	if _, err := p.SessionPolicy(stage+strings.Repeat("x", 300), p.ScopeNames()); err == nil || !strings.Contains(err.Error(), "over STS's 2048") {
		t.Errorf("an oversized document: %v", err)
	}
}

// Every tier's widest session fits STS's limit with a long stage ARN; the role's union fits IAM's.
func TestProductionGrantsFit(t *testing.T) {
	t.Parallel()
	p := mustParse(t, policyfile.JSON())
	for _, tier := range p.Tiers {
		doc, err := p.SessionPolicy(policy.SizingStageARN, tier.Scopes)
		if err != nil {
			t.Errorf("%s: %v", tier.Name, err)
			continue
		}
		var d policy.Document
		if err := json.Unmarshal([]byte(doc), &d); err != nil {
			t.Errorf("%s: %v", tier.Name, err)
		}
		t.Logf("%s: %d of %d characters", tier.Name, len(doc), policy.MaxSessionPolicySize)
	}
	union, _ := json.Marshal(policy.Document{Version: policy.IAMPolicyVersion, Statement: p.Permissions(policy.SizingStageARN, p.ScopeNames())})
	if len(union) > policy.MaxManagedPolicySize {
		t.Errorf("the union of every scope's grants is %d characters", len(union))
	}
	if got := p.ScopeNames(); len(got) != len(p.Scopes) || got[0] != "inventory:read" {
		t.Errorf("ScopeNames %v", got)
	}
}

func TestParseRefusesBadGrants(t *testing.T) {
	t.Parallel()
	many := make([]string, 20)
	for i := range many {
		many[i] = "GET/v1/a-rather-long-collection-name-for-sizing/" + strings.Repeat("x", i+1)
	}
	tests := []struct {
		name  string
		edits []edit
		want  string
	}{
		{"scope without grants", []edit{del("/scopes/1/grants")}, "/scopes/1/grants: required field missing"},
		{"empty grants", []edit{set("/scopes/1/grants", []any{})}, "/scopes/1/grants: minItems"},
		{"wildcard action", []edit{set("/scopes/1/grants/0/actions/0", "*")}, "/scopes/1/grants/0/actions/0: value must be"},
		{"service wildcard", []edit{set("/scopes/1/grants/0/actions/0", "execute-api:*")}, "/scopes/1/grants/0/actions/0: value must be"},
		{"another service", []edit{set("/scopes/1/grants/0/actions/0", "s3:GetObject")}, "/scopes/1/grants/0/actions/0: value must be"},
		{"no action", []edit{set("/scopes/1/grants/0/actions", []any{})}, "/scopes/1/grants/0/actions: minItems"},
		{"repeated action", []edit{set("/scopes/1/grants/0/actions/-", policy.InvokeAction)}, "/scopes/1/grants/0/actions/1: duplicate of item 0"},
		{"no resource", []edit{set("/scopes/1/grants/0/resources", []any{})}, "/scopes/1/grants/0/resources: minItems"},
		{"repeated resource", []edit{set("/scopes/1/grants/0/resources/-", "GET/v1/orders")}, "/scopes/1/grants/0/resources/2: duplicate of item 0"},
		{"unknown grant field", []edit{set("/scopes/1/grants/0/effect", "Deny")}, "/scopes/1/grants/0/effect: unknown field"},
		{"whole-API wildcard", []edit{set("/scopes/1/grants/0/resources/0", "*")}, `/scopes/1/grants/0/resources/0: "*" is not a route`},
		{"method wildcard", []edit{set("/scopes/1/grants/0/resources/0", "*/v1/orders")}, `/scopes/1/grants/0/resources/0: "*/v1/orders" is not a route`},
		{"every GET", []edit{set("/scopes/1/grants/0/resources/0", "GET/*")}, `/scopes/1/grants/0/resources/0: "GET/*" is not a route`},
		{"a full ARN", []edit{set("/scopes/1/grants/0/resources/0", "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3/prod/GET/v1/orders")},
			`/scopes/1/grants/0/resources/0: "arn:aws:execute-api`},
		{"lowercase method", []edit{set("/scopes/1/grants/0/resources/0", "get/v1/orders")}, `/scopes/1/grants/0/resources/0: "get/v1/orders" is not a route`},
		{"question-mark wildcard", []edit{set("/scopes/1/grants/0/resources/0", "GET/v1/order?")}, `/scopes/1/grants/0/resources/0: "GET/v1/order?" is not a route`},
		{"partial-segment wildcard", []edit{set("/scopes/1/grants/0/resources/0", "GET/v1/orders*")}, `/scopes/1/grants/0/resources/0: "GET/v1/orders*" is not a route`},
		{"trailing slash", []edit{set("/scopes/1/grants/0/resources/0", "GET/v1/orders/")}, `/scopes/1/grants/0/resources/0: "GET/v1/orders/" is not a route`},
		{"a tier's session policy over STS's limit", []edit{
			set("/scopes/0/grants/-", grant(many[:10]...)),
			set("/scopes/1/grants/-", grant(many[10:]...)),
		}, "/tiers/0/scopes: tier sandbox: the session policy of all its scopes is"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := problems(t, apply(t, production(t), tt.edits...))
			for _, l := range lines {
				if strings.HasPrefix(l, tt.want) {
					return
				}
			}
			t.Errorf("no line starts with\n  %s\ngot\n  %s", tt.want, strings.Join(lines, "\n  "))
		})
	}
}

// A policy built in Go is held to the same grant rules.
func TestValidateChecksGrantsBuiltInGo(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	p.Scopes[0].Grants = nil
	p.Scopes[1].Grants[0].Actions = []string{"*", "*"}
	p.Scopes[2].Grants[0].Resources = []string{"GET/*", "POST/v1/orders", "POST/v1/orders"}
	p.Scopes[3].Grants[0].Actions = nil
	p.Scopes[3].Grants[0].Resources = nil
	lines := strings.Split(p.Validate().Error(), "\n")
	checkLines(t, lines, []string{
		"/scopes/0/grants: scope inventory:read grants nothing",
		`/scopes/1/grants/0/actions/0: "*" is not an action a scope may grant (execute-api:Invoke)`,
		`/scopes/1/grants/0/actions/1: "*" is not an action a scope may grant`,
		"/scopes/1/grants/0/actions/1: action * repeats item 0",
		`/scopes/2/grants/0/resources/0: "GET/*" is not a route`,
		"/scopes/2/grants/0/resources/2: resource POST/v1/orders repeats item 1",
		"/scopes/3/grants/0/actions: names no action",
		"/scopes/3/grants/0/resources: names no resource",
	})
}

// Default's copies do not share grants.
func TestDefaultCopiesGrants(t *testing.T) {
	t.Parallel()
	a, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	a.Scopes[0].Grants[0].Resources[0] = "GET/changed"
	a.Scopes[0].Grants[0].Actions[0] = "changed"
	b, _ := policy.Default()
	if b.Scopes[0].Grants[0].Resources[0] == "GET/changed" || b.Scopes[0].Grants[0].Actions[0] == "changed" {
		t.Error("a change to one Default() result's grants reached another")
	}
}
