package policy

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
)

func schemaDoc(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(policyfile.Schema(), &doc); err != nil {
		t.Fatalf("policy.schema.json: %v", err)
	}
	return doc
}

func TestSchemaCompiles(t *testing.T) {
	t.Parallel()
	if _, err := compiledSchema(); err != nil {
		t.Fatal(err)
	}
	doc := schemaDoc(t)
	if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" || doc["$id"] != SchemaID {
		t.Errorf("$schema %v, $id %v", doc["$schema"], doc["$id"])
	}
}

// Strict and documented: every object schema refuses unknown fields, and every field and
// definition says what it is.
func TestSchemaIsStrictAndDescribed(t *testing.T) {
	t.Parallel()
	var walk func(at string, node map[string]any)
	walk = func(at string, node map[string]any) {
		if node["type"] == "object" || node["properties"] != nil {
			if node["additionalProperties"] != false {
				t.Errorf("%s: object without additionalProperties: false", at)
			}
		}
		if props, ok := node["properties"].(map[string]any); ok {
			names := make([]string, 0, len(props))
			for name := range props {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				p, _ := props[name].(map[string]any)
				if d, _ := p["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("%s/properties/%s: no description", at, name)
				}
				walk(at+"/properties/"+name, p)
			}
		}
		if defs, ok := node["$defs"].(map[string]any); ok {
			for name, v := range defs {
				def, _ := v.(map[string]any)
				if d, _ := def["description"].(string); strings.TrimSpace(d) == "" {
					t.Errorf("%s/$defs/%s: no description", at, name)
				}
				walk(at+"/$defs/"+name, def)
			}
		}
		if items, ok := node["items"].(map[string]any); ok {
			walk(at+"/items", items)
		}
	}
	walk("#", schemaDoc(t))
}

// The Go checks use the schema's own patterns, so the two cannot disagree on a value.
func TestGoPatternsMatchSchema(t *testing.T) {
	t.Parallel()
	doc := schemaDoc(t)
	defs, _ := doc["$defs"].(map[string]any)
	pattern := func(path ...string) any {
		var v any = defs
		for _, p := range path {
			m, _ := v.(map[string]any)
			v = m[p]
		}
		return v
	}
	for _, tt := range []struct {
		name   string
		schema any
		goside string
	}{
		{"duration", pattern("duration", "pattern"), durationPattern},
		{"scope", pattern("scope", "pattern"), scopePattern},
		{"tierName", pattern("tierName", "pattern"), tierNamePattern},
		{"routeResource", pattern("routeResource", "pattern"), routeResourcePattern},
		{"principal", pattern("principal", "pattern"), principalPattern},
		{"accountId", func() any {
			props, _ := doc["properties"].(map[string]any)
			accounts, _ := props["accounts"].(map[string]any)
			items, _ := accounts["items"].(map[string]any)
			ip, _ := items["properties"].(map[string]any)
			id, _ := ip["accountId"].(map[string]any)
			return id["pattern"]
		}(), accountPattern},
	} {
		if tt.schema != tt.goside {
			t.Errorf("%s: schema pattern %v, Go pattern %s", tt.name, tt.schema, tt.goside)
		}
	}
	if got := pattern("scope", "maxLength"); got != float64(maxScopeLen) {
		t.Errorf("scope maxLength %v, Go %d", got, maxScopeLen)
	}
	if got := pattern("routeResource", "maxLength"); got != float64(maxRouteResourceLen) {
		t.Errorf("routeResource maxLength %v, Go %d", got, maxRouteResourceLen)
	}
	enum, _ := pattern("grantAction", "enum").([]any)
	var actions []string
	for _, a := range enum {
		s, _ := a.(string)
		actions = append(actions, s)
	}
	if !slices.Equal(actions, grantActions) {
		t.Errorf("grantAction enum %v, Go %v", enum, grantActions)
	}
}

// The schema's audit retention values are AuditRetentionDays, and Validate holds a policy built
// in Go to them too.
func TestAuditRetentionDaysMatchSchema(t *testing.T) {
	t.Parallel()
	props, _ := schemaDoc(t)["properties"].(map[string]any)
	audit, _ := props["audit"].(map[string]any)
	ap, _ := audit["properties"].(map[string]any)
	rd, _ := ap["retentionDays"].(map[string]any)
	enum, _ := rd["enum"].([]any)
	var days []int
	for _, v := range enum {
		f, _ := v.(float64)
		days = append(days, int(f))
	}
	if !slices.Equal(days, AuditRetentionDays) {
		t.Errorf("schema retentionDays enum %v, Go %v", enum, AuditRetentionDays)
	}
	p, err := Default()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []int{0, 2, 366, 3654, -1} {
		p.Audit.RetentionDays = d
		if err := p.Validate(); err == nil || !strings.Contains(err.Error(), "/audit/retentionDays:") {
			t.Errorf("retention %d days: Validate = %v", d, err)
		}
	}
	for _, d := range AuditRetentionDays {
		p.Audit.RetentionDays = d
		if err := p.Validate(); err != nil {
			t.Errorf("retention %d days: %v", d, err)
		}
	}
}
