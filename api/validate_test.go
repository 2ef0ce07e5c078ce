package api_test

import (
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/api"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
)

const invite = "lnyd_inv_ExampleOnlyNotARealInvite00000"

// body builds a JSON body from a valid one with some members changed (nil removes one).
func body(t *testing.T, base map[string]any, changes map[string]any) []byte {
	t.Helper()
	m := maps.Clone(base)
	for k, v := range changes {
		if v == nil {
			delete(m, k)
			continue
		}
		m[k] = v
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	validPartner = map[string]any{"partnerName": "Acme Logistics", "inviteCode": invite, "scopes": []string{"orders:read", "orders:write"}}
	validInvite  = map[string]any{"partnerName": "Acme Logistics", "tier": "standard", "expiresIn": 604800}
)

func TestValidateBodyAcceptsEveryRequestExample(t *testing.T) {
	t.Parallel()
	d := doc(t)
	n := 0
	for _, e := range allExamples(t, d) {
		if e.op == "" || e.status != "" || e.media != "application/json" {
			continue
		}
		n++
		b, err := json.Marshal(e.value)
		if err != nil {
			t.Fatal(err)
		}
		if err := api.ValidateBody(e.op, b); err != nil {
			t.Errorf("%s refused:\n%v", e.where, err)
		}
	}
	if n < 3 {
		t.Errorf("only %d request examples", n)
	}
}

func TestValidateBodyRefusesNamingTheField(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		op   string
		body []byte
		want []string // the error's lines, in order
	}{
		{"missing required field", api.OpCreatePartner, body(t, validPartner, map[string]any{"partnerName": nil}),
			[]string{"/partnerName: is required"}},
		{"missing fields", api.OpCreateInvite, []byte(`{}`),
			[]string{"/partnerName: is required", "/tier: is required"}},
		{"wrong type", api.OpCreatePartner, body(t, validPartner, map[string]any{"scopes": "orders:read"}),
			[]string{"/scopes: must be an array"}},
		{"wrong item type", api.OpCreatePartner, body(t, validPartner, map[string]any{"scopes": []any{"orders:read", 7}}),
			[]string{"/scopes/1: must be a string"}},
		{"integer wanted", api.OpCreateInvite, body(t, validInvite, map[string]any{"expiresIn": "7d"}),
			[]string{"/expiresIn: must be an integer"}},
		{"fraction for an integer", api.OpCreateInvite, body(t, validInvite, map[string]any{"expiresIn": 3600.5}),
			[]string{"/expiresIn: must be an integer"}},
		{"unknown field", api.OpCreatePartner, body(t, validPartner, map[string]any{"tier": "premium"}),
			[]string{"/tier: unknown field, not allowed"}},
		{"unknown field with a long name", api.OpCreatePartner, body(t, validPartner, map[string]any{strings.Repeat("x", 40): 1}),
			[]string{"(body): has a field whose name is withheld: unknown field, not allowed"}},
		{"bad scope syntax", api.OpCreatePartner, body(t, validPartner, map[string]any{"scopes": []string{"orders:read", "Orders"}}),
			[]string{`/scopes/1: must be a scope: lowercase segments joined by ":", like "orders:read"`}},
		{"scope without action", api.OpCreatePartner, body(t, validPartner, map[string]any{"scopes": []string{"orders"}}),
			[]string{`/scopes/0: must be a scope: lowercase segments joined by ":", like "orders:read"`}},
		{"repeated scope", api.OpCreatePartner, body(t, validPartner, map[string]any{"scopes": []string{"orders:read", "orders:read"}}),
			[]string{"/scopes/1: repeats item 0; items must be unique"}},
		{"no scopes", api.OpCreatePartner, body(t, validPartner, map[string]any{"scopes": []string{}}),
			[]string{"/scopes: must hold at least 1 item"}},
		{"too-long partner name", api.OpCreatePartner, body(t, validPartner, map[string]any{"partnerName": strings.Repeat("a", 201)}),
			[]string{"/partnerName: must be at most 200 characters long"}},
		{"empty partner name", api.OpCreateInvite, body(t, validInvite, map[string]any{"partnerName": ""}),
			[]string{"/partnerName: must not be empty"}},
		{"partner name with a leading space", api.OpCreateInvite, body(t, validInvite, map[string]any{"partnerName": " Acme"}),
			[]string{"/partnerName: must not start or end with white space or hold control characters"}},
		{"partner name with a control character", api.OpCreateInvite, body(t, validInvite, map[string]any{"partnerName": "Acme\u0007Logistics"}),
			[]string{"/partnerName: must not start or end with white space or hold control characters"}},
		{"unknown tier", api.OpCreateInvite, body(t, validInvite, map[string]any{"tier": "gold"}),
			[]string{"/tier: must be one of: sandbox, standard, premium"}},
		{"expiry too long", api.OpCreateInvite, body(t, validInvite, map[string]any{"expiresIn": 2592001}),
			[]string{"/expiresIn: must be at most 2592000"}},
		{"invite code too short", api.OpCreatePartner, body(t, validPartner, map[string]any{"inviteCode": "abc"}),
			[]string{"/inviteCode: must be at least 16 characters long"}},
		{"invite code with odd characters", api.OpCreatePartner, body(t, validPartner, map[string]any{"inviteCode": "lnyd inv 0000000000000000"}),
			[]string{`/inviteCode: must be an invite code: letters, digits, "_" and "-"`}},
		{"repeated member", api.OpCreatePartner, []byte(`{"partnerName":"A","partnerName":"Acme","inviteCode":"` + invite + `","scopes":["orders:read"]}`),
			[]string{"/partnerName: is repeated; send each field once"}},
		{"not an object", api.OpCreatePartner, []byte(`["orders:read"]`),
			[]string{"(body): must be an object"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := api.ValidateBody(tt.op, tt.body)
			var be *api.BodyError
			if !errors.As(err, &be) {
				t.Fatalf("ValidateBody = %v, want a *BodyError", err)
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tt.want) {
				t.Errorf("error lines\n got %q\nwant %q", got, tt.want)
			}
			p := problem.From(err)
			if p.Type != problem.Validation.URI() || p.Status != 400 || len(p.Errors) != len(tt.want) {
				t.Errorf("problem %+v, want validation with %d errors", p, len(tt.want))
			}
			for i, f := range p.Errors {
				if i < len(tt.want) && f.String() != strings.Replace(tt.want[i], "(body)", "", 1) {
					t.Errorf("problem error %d %q, want %q", i, f.String(), tt.want[i])
				}
			}
		})
	}
}

func TestValidateBodyNotJSON(t *testing.T) {
	t.Parallel()
	for name, b := range map[string]string{
		"empty":         "",
		"white space":   " \n",
		"truncated":     `{"partnerName":`,
		"syntax error":  `{"partnerName" "Acme"}`,
		"two values":    `{} {}`,
		"bare word":     `hello`,
		"trailing junk": `{"partnerName":"Acme"}x`,
	} {
		err := api.ValidateBody(api.OpCreatePartner, []byte(b))
		var be *api.BodyError
		if !errors.As(err, &be) || !be.NotJSON {
			t.Errorf("%s: %v, want a not-JSON *BodyError", name, err)
			continue
		}
		if p := problem.From(err); p.Type != problem.BadRequest.URI() || p.Status != 400 {
			t.Errorf("%s: problem %+v, want bad-request", name, p)
		}
	}
}

func TestValidateBodyWithoutBodySchema(t *testing.T) {
	t.Parallel()
	for _, op := range []string{api.OpGetHealth, api.OpGetOwnPartner, "noSuchOperation"} {
		err := api.ValidateBody(op, []byte(`{}`))
		if !errors.Is(err, api.ErrNoRequestBody) {
			t.Errorf("%s: %v, want ErrNoRequestBody", op, err)
		}
		if _, public := problem.Of(err); public {
			t.Errorf("%s: a programming error became a public problem", op)
		}
	}
}

// A refusal names fields, never the values sent: neither the error for the log nor the problem
// for the client repeats one.
func TestValidateBodyNeverEchoesValues(t *testing.T) {
	c := secrettest.Plant(t)
	v := func(label string) string { return c.New(label).Reveal() }
	bodies := map[string]map[string]any{
		"invalid invite code":           {"partnerName": "Acme", "inviteCode": v("invite") + " !", "scopes": []string{"orders:read"}},
		"invite code as a number array": {"partnerName": "Acme", "inviteCode": []string{v("invite-array")}, "scopes": []string{"orders:read"}},
		"overlong partner name":         {"partnerName": v("name") + strings.Repeat("x", 200), "inviteCode": invite, "scopes": []string{"orders:read"}},
		"partner name with control":     {"partnerName": v("ctl") + "\n", "inviteCode": invite, "scopes": []string{"orders:read"}},
		"scope":                         {"partnerName": "Acme", "inviteCode": invite, "scopes": []string{v("scope")}},
		"unknown field value":           {"partnerName": "Acme", "inviteCode": invite, "scopes": []string{"orders:read"}, "apiKey": v("unknown-value")},
		"unknown field name":            {"partnerName": "Acme", "inviteCode": invite, "scopes": []string{"orders:read"}, v("field-name"): true},
		"repeated scope":                {"partnerName": "Acme", "inviteCode": invite, "scopes": []string{v("dup"), v("dup")}},
	}
	for name, m := range bodies {
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		verr := api.ValidateBody(api.OpCreatePartner, b)
		if verr == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		c.CheckError(verr)
		c.CheckText("problem for "+name, problem.Response(problem.From(verr)).Body)
	}
	for _, b := range []string{`{"partnerName":"` + v("broken") + ``, `{"` + v("broken-key") + `" 1}`} {
		err := api.ValidateBody(api.OpCreatePartner, []byte(b))
		c.CheckError(err)
		c.CheckText("problem for a broken body", problem.Response(problem.From(err)).Body)
	}
}
