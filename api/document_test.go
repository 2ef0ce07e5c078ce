package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lanyardhq/lanyard/api"
	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/topology"
)

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// doc returns the document as generic JSON (numbers as json.Number, as the validator wants).
func doc(t *testing.T) map[string]any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(api.Document()))
	if err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatal("openapi.json is not an object")
	}
	return m
}

// escape escapes a JSON pointer segment.
func escape(s string) string { return strings.NewReplacer("~", "~0", "/", "~1").Replace(s) }

// at returns the value at a JSON pointer in d.
func at(t *testing.T, d map[string]any, ptr string) any {
	t.Helper()
	var cur any = d
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		seg = strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s: %q is not in an object", ptr, seg)
		}
		if cur, ok = m[seg]; !ok {
			t.Fatalf("%s: no %q", ptr, seg)
		}
	}
	return cur
}

// resolve follows a {"$ref": "#/…"} object to its target, returning the target and its pointer.
func resolve(t *testing.T, d map[string]any, v any, ptr string) (map[string]any, string) {
	t.Helper()
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s: not an object", ptr)
		}
		ref, ok := m["$ref"].(string)
		if !ok {
			return m, ptr
		}
		if !strings.HasPrefix(ref, "#/") {
			t.Fatalf("%s: $ref %q is not local", ptr, ref)
		}
		ptr = strings.TrimPrefix(ref, "#")
		v = at(t, d, ptr)
	}
	t.Fatalf("%s: $ref chain too long", ptr)
	return nil, ""
}

// operation is one method of one path.
type operation struct {
	method, path, ptr string
	obj               map[string]any
}

func operations(t *testing.T, d map[string]any) []operation {
	t.Helper()
	paths, _ := d["paths"].(map[string]any)
	var out []operation
	for _, p := range slices.Sorted(maps.Keys(paths)) {
		item, _ := paths[p].(map[string]any)
		for _, m := range methods {
			if o, ok := item[m].(map[string]any); ok {
				out = append(out, operation{method: strings.ToUpper(m), path: p, ptr: "/paths/" + escape(p) + "/" + m, obj: o})
			}
		}
	}
	return out
}

// example is one example value with the schema it must match.
type example struct {
	where     string // for messages
	schemaPtr string
	value     any
	op        string // operationId; "" outside operations
	status    string // response status; "" for request bodies and schemas
	media     string
	obj       map[string]any // the Example Object, nil for schema examples
}

// mediaExamples returns the examples of each media type of a content map at ptr.
func mediaExamples(t *testing.T, d map[string]any, content map[string]any, ptr, op, status string) []example {
	t.Helper()
	var out []example
	for _, media := range slices.Sorted(maps.Keys(content)) {
		mt, _ := content[media].(map[string]any)
		mptr := ptr + "/content/" + escape(media)
		if v, ok := mt["example"]; ok {
			out = append(out, example{where: mptr + "/example", schemaPtr: mptr + "/schema", value: v, op: op, status: status, media: media})
		}
		exs, _ := mt["examples"].(map[string]any)
		for _, name := range slices.Sorted(maps.Keys(exs)) {
			eo, eptr := resolve(t, d, exs[name], mptr+"/examples/"+escape(name))
			v, ok := eo["value"]
			if !ok {
				t.Errorf("%s: example without a value", eptr)
				continue
			}
			out = append(out, example{where: eptr, schemaPtr: mptr + "/schema", value: v, op: op, status: status, media: media, obj: eo})
		}
	}
	return out
}

// allExamples collects every example of the document: request bodies, responses, parameters,
// and the "examples" keyword of every component schema. A shared component's examples are
// listed once.
func allExamples(t *testing.T, d map[string]any) []example {
	t.Helper()
	all := collectExamples(t, d)
	seen := map[string]bool{}
	out := all[:0]
	for _, e := range all {
		if !seen[e.where] {
			seen[e.where] = true
			out = append(out, e)
		}
	}
	return out
}

func collectExamples(t *testing.T, d map[string]any) []example {
	t.Helper()
	var out []example
	for _, o := range operations(t, d) {
		id, _ := o.obj["operationId"].(string)
		if rb, ok := o.obj["requestBody"]; ok {
			body, ptr := resolve(t, d, rb, o.ptr+"/requestBody")
			content, _ := body["content"].(map[string]any)
			out = append(out, mediaExamples(t, d, content, ptr, id, "")...)
		}
		responses, _ := o.obj["responses"].(map[string]any)
		for _, code := range slices.Sorted(maps.Keys(responses)) {
			r, ptr := resolve(t, d, responses[code], o.ptr+"/responses/"+code)
			content, _ := r["content"].(map[string]any)
			out = append(out, mediaExamples(t, d, content, ptr, id, code)...)
		}
		params, _ := o.obj["parameters"].([]any)
		for i, p := range params {
			po, ptr := resolve(t, d, p, o.ptr+"/parameters/"+strconv.Itoa(i))
			if v, ok := po["example"]; ok {
				out = append(out, example{where: ptr + "/example", schemaPtr: ptr + "/schema", value: v, op: id})
			}
		}
	}
	var walk func(v any, ptr string)
	walk = func(v any, ptr string) {
		switch v := v.(type) {
		case map[string]any:
			if exs, ok := v["examples"].([]any); ok {
				for i, e := range exs {
					out = append(out, example{where: ptr + "/examples/" + strconv.Itoa(i), schemaPtr: ptr, value: e})
				}
			}
			for k, c := range v {
				walk(c, ptr+"/"+escape(k))
			}
		case []any:
			for i, c := range v {
				walk(c, ptr+"/"+strconv.Itoa(i))
			}
		}
	}
	walk(at(t, d, "/components/schemas"), "/components/schemas")
	return out
}

// compiler returns a compiler holding the document, as the api package compiles it.
func compiler(t *testing.T, d map[string]any) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(api.DocumentURL, d); err != nil {
		t.Fatalf("add document: %v", err)
	}
	return c
}

func TestDocumentIsOpenAPI31(t *testing.T) {
	t.Parallel()
	d := doc(t)
	if v, _ := d["openapi"].(string); !regexp.MustCompile(`^3\.1\.[0-9]+$`).MatchString(v) {
		t.Fatalf("openapi %q, want 3.1.x", v)
	}
	// The document's structure against the OpenAPI 3.1 specification is checked by
	// openapi-spec-validator (pinned in local/localstack.lock) in `make lint`.
	if !bytes.Equal(api.Document(), api.Document()) {
		t.Error("Document is not stable")
	}
	mine := api.Document()
	mine[0] = 'x'
	if api.Document()[0] == 'x' {
		t.Error("Document returns the embedded bytes, not a copy")
	}
}

func TestEveryOperationIsComplete(t *testing.T) {
	t.Parallel()
	d := doc(t)
	want := []string{api.OpGetOpenAPIDocument, api.OpGetHealth, api.OpCreateInvite, api.OpCreatePartner, api.OpGetOwnPartner, api.OpCreateToken,
		api.OpListOnboardings, api.OpApproveOnboarding, api.OpDenyOnboarding, api.OpPickUpOnboarding,
		api.OpRotatePartnerKey, api.OpRevokePartnerKeys, api.OpPickUpReplacement,
		api.OpGetCurrentCredential, api.OpAcknowledgeRotation, api.OpRevokeCredential, api.OpIntrospectKey}
	var ids []string
	schemes, _ := at(t, d, "/components/securitySchemes").(map[string]any)
	for _, o := range operations(t, d) {
		name := o.method + " " + o.path
		id, _ := o.obj["operationId"].(string)
		if id == "" {
			t.Errorf("%s: no operationId", name)
		}
		ids = append(ids, id)
		if s, _ := o.obj["summary"].(string); s == "" {
			t.Errorf("%s: no summary", name)
		}
		sec, ok := o.obj["security"].([]any)
		if !ok {
			t.Errorf("%s: no security requirement (an open route says [])", name)
		}
		for _, req := range sec {
			for scheme := range req.(map[string]any) {
				if _, ok := schemes[scheme]; !ok {
					t.Errorf("%s: security scheme %q is not declared", name, scheme)
				}
			}
		}
		if rb, ok := o.obj["requestBody"]; ok {
			body, ptr := resolve(t, d, rb, o.ptr+"/requestBody")
			content, _ := body["content"].(map[string]any)
			if len(content) == 0 {
				t.Errorf("%s: request body without content", ptr)
			}
			if req, _ := body["required"].(bool); !req {
				t.Errorf("%s: request body not required", ptr)
			}
			for media, mt := range content {
				mt := mt.(map[string]any)
				_, one := mt["example"]
				exs, _ := mt["examples"].(map[string]any)
				if !one && len(exs) == 0 {
					t.Errorf("%s: request body %s has no example", name, media)
				}
			}
		}
		responses, _ := o.obj["responses"].(map[string]any)
		for _, code := range []string{"429", "500"} {
			if _, ok := responses[code]; !ok {
				t.Errorf("%s: no %s response", name, code)
			}
		}
		for code, r := range responses {
			r, ptr := resolve(t, d, r, o.ptr+"/responses/"+code)
			content, _ := r["content"].(map[string]any)
			if code[0] == '2' {
				if len(content) == 0 {
					t.Errorf("%s: success response without content", ptr)
				}
				continue
			}
			if len(content) != 1 {
				t.Errorf("%s: error response content %v, want only application/problem+json", ptr, slices.Collect(maps.Keys(content)))
			}
			mt, ok := content[problem.ContentType].(map[string]any)
			if !ok {
				t.Errorf("%s: no %s content", ptr, problem.ContentType)
				continue
			}
			if ref, _ := mt["schema"].(map[string]any)["$ref"].(string); ref != "#/components/schemas/Problem" {
				t.Errorf("%s: schema %v, want $ref #/components/schemas/Problem", ptr, mt["schema"])
			}
			if exs, _ := mt["examples"].(map[string]any); len(exs) == 0 {
				t.Errorf("%s: problem response without examples", ptr)
			}
		}
	}
	sort.Strings(ids)
	sort.Strings(want)
	if !slices.Equal(ids, want) {
		t.Errorf("operationIds %q, want the api.Op… constants %q", ids, want)
	}
}

func TestEveryExampleMatchesItsSchema(t *testing.T) {
	t.Parallel()
	d := doc(t)
	c := compiler(t, d)
	exs := allExamples(t, d)
	if len(exs) < 20 {
		t.Fatalf("found only %d examples; is the walk broken?", len(exs))
	}
	schemas := map[string]*jsonschema.Schema{}
	for _, e := range exs {
		s, ok := schemas[e.schemaPtr]
		if !ok {
			var err error
			if s, err = c.Compile(api.DocumentURL + "#" + e.schemaPtr); err != nil {
				t.Errorf("compile %s: %v", e.schemaPtr, err)
				continue
			}
			schemas[e.schemaPtr] = s
		}
		if err := s.Validate(e.value); err != nil {
			t.Errorf("%s does not match %s:\n%v", e.where, e.schemaPtr, err)
		}
	}
}

// Every problem example is a catalogue type, with the catalogue's title and a status that fits
// both the type and the response it is under.
func TestProblemExamplesAreCatalogueTypes(t *testing.T) {
	t.Parallel()
	d := doc(t)
	n := 0
	for _, e := range allExamples(t, d) {
		if e.media != problem.ContentType {
			continue
		}
		n++
		m, _ := e.value.(map[string]any)
		typ, _ := m["type"].(string)
		tp, ok := problem.Lookup(typ)
		if !ok {
			t.Errorf("%s: type %q is not in the problem catalogue", e.where, typ)
			continue
		}
		if m["title"] != tp.Title() {
			t.Errorf("%s: title %v, catalogue %q", e.where, m["title"], tp.Title())
		}
		status := fmt.Sprint(m["status"])
		if status != e.status {
			t.Errorf("%s: status %s under response %s", e.where, status, e.status)
		}
		if !statusFits(tp, status) {
			t.Errorf("%s: status %s, catalogue %d", e.where, status, tp.Status())
		}
		if tp == problem.InviteInvalid && m["detail"] != tp.DefaultDetail() {
			t.Errorf("%s: detail %v, want the fixed %q", e.where, m["detail"], tp.DefaultDetail())
		}
	}
	if n == 0 {
		t.Fatal("no problem examples found")
	}
}

// statusFits says whether a problem of type tp may carry status: its own, or for bad-request and
// internal any of their class (API Gateway's DEFAULT_4XX and DEFAULT_5XX).
func statusFits(tp problem.Type, status string) bool {
	switch {
	case status == strconv.Itoa(tp.Status()):
		return true
	case tp == problem.BadRequest:
		return strings.HasPrefix(status, "4")
	case tp == problem.Internal:
		return strings.HasPrefix(status, "5")
	}
	return false
}

// A validation example carries the body it is the answer to (x-request-body); ValidateBody must
// give exactly that answer, so the document cannot promise messages the code does not send.
func TestValidationExamplesAreWhatValidateBodySays(t *testing.T) {
	t.Parallel()
	d := doc(t)
	n := 0
	for _, e := range allExamples(t, d) {
		body, ok := e.obj["x-request-body"]
		if !ok {
			continue
		}
		n++
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		got := problem.From(api.ValidateBody(e.op, b))
		gotJSON, _ := json.Marshal(got)
		wantJSON, _ := json.Marshal(e.value)
		var g, w any
		_ = json.Unmarshal(gotJSON, &g)
		_ = json.Unmarshal(wantJSON, &w)
		if !reflect.DeepEqual(g, w) {
			t.Errorf("%s:\n got %s\nwant %s", e.where, gotJSON, wantJSON)
		}
	}
	if n < 2 {
		t.Errorf("%d validation examples carry x-request-body, want one per operation with a body", n)
	}
}

// What problem.Response renders matches the document's Problem schema, for every type.
func TestProblemSchemaDescribesEveryResponse(t *testing.T) {
	t.Parallel()
	d := doc(t)
	s, err := compiler(t, d).Compile(api.DocumentURL + "#/components/schemas/Problem")
	if err != nil {
		t.Fatal(err)
	}
	var enum []string
	for _, v := range at(t, d, "/components/schemas/Problem/properties/type/enum").([]any) {
		enum = append(enum, v.(string))
	}
	var uris []string
	for _, tp := range problem.Types() {
		uris = append(uris, tp.URI())
	}
	if !slices.Equal(enum, uris) {
		t.Errorf("Problem type enum %q\nwant the catalogue %q", enum, uris)
	}
	var errs []error
	for _, tp := range problem.Types() {
		errs = append(errs, tp.New(""))
	}
	errs = append(errs,
		problem.NewValidation(problem.FieldError{Pointer: "/scopes/0", Message: "must be a scope"}, problem.FieldError{Pointer: "", Message: "must be an object"}),
		problem.NewScopesNotAllowed("sandbox", []string{"orders:write"}),
		problem.NotFound.New("").WithInstance("/v1/partners/p-acme"),
		api.ValidateBody(api.OpCreatePartner, []byte(`{"scopes":[1]}`)),
		api.ValidateBody(api.OpCreatePartner, []byte(`{`)),
	)
	for _, err := range errs {
		resp := problem.Response(problem.From(err))
		v, jerr := jsonschema.UnmarshalJSON(strings.NewReader(resp.Body))
		if jerr != nil {
			t.Fatalf("%s: %v", resp.Body, jerr)
		}
		if verr := s.Validate(v); verr != nil {
			t.Errorf("%s does not match the Problem schema:\n%v", resp.Body, verr)
		}
	}
}

// Tiers and scopes are policy/policy.json's.
func TestSchemasFollowPolicy(t *testing.T) {
	t.Parallel()
	d := doc(t)
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	var tiers []string
	for _, v := range at(t, d, "/components/schemas/Tier/enum").([]any) {
		tiers = append(tiers, v.(string))
	}
	var polTiers []string
	for _, tr := range pol.Tiers {
		polTiers = append(polTiers, tr.Name)
	}
	if !slices.Equal(tiers, polTiers) {
		t.Errorf("Tier enum %q, policy tiers %q", tiers, polTiers)
	}

	var polSchema map[string]any
	if err := json.Unmarshal(policyfile.Schema(), &polSchema); err != nil {
		t.Fatal(err)
	}
	ps := polSchema["$defs"].(map[string]any)["scope"].(map[string]any)
	scope := at(t, d, "/components/schemas/Scope").(map[string]any)
	if scope["pattern"] != ps["pattern"] || fmt.Sprint(scope["maxLength"]) != fmt.Sprint(ps["maxLength"]) {
		t.Errorf("Scope pattern %v maxLength %v, policy's %v %v", scope["pattern"], scope["maxLength"], ps["pattern"], ps["maxLength"])
	}
	desc, _ := scope["description"].(string)
	catalogue := map[string]bool{}
	for _, sc := range pol.Scopes {
		catalogue[sc.Name] = true
		if !strings.Contains(desc, sc.Name) {
			t.Errorf("the Scope description does not list %s", sc.Name)
		}
	}

	for _, e := range allExamples(t, d) {
		m, ok := e.value.(map[string]any)
		if !ok {
			continue
		}
		for _, key := range []string{"scopes", "deniedScopes"} {
			list, _ := m[key].([]any)
			for _, s := range list {
				if !catalogue[s.(string)] {
					t.Errorf("%s: scope %v is not in policy.json", e.where, s)
				}
			}
		}
		tier, _ := m["tier"].(string)
		list, _ := m["scopes"].([]any)
		if tier == "" || len(list) == 0 {
			continue
		}
		var scopes []string
		for _, s := range list {
			scopes = append(scopes, s.(string))
		}
		if dec := pol.Decide(tier, scopes); !dec.Allowed {
			t.Errorf("%s: %s", e.where, dec.Justification)
		}
	}
}

// The example key is shared/domain/credential's documented example: well formed, a test key, in no
// registry. No example looks like an AWS access key.
func TestKeyExamples(t *testing.T) {
	t.Parallel()
	d := doc(t)
	if got := at(t, d, "/components/schemas/ApiKey/pattern"); got != "^(?:"+credential.ScannerPattern+")$" {
		t.Errorf("ApiKey pattern %v, want credential.ScannerPattern anchored", got)
	}
	credDoc, err := os.ReadFile("../shared/domain/credential/doc.go")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range allExamples(t, d) {
		m, ok := e.value.(map[string]any)
		if !ok {
			continue
		}
		key, ok := m["apiKey"].(string)
		if !ok {
			continue
		}
		n++
		k, err := credential.Parse(key)
		if err != nil {
			t.Errorf("%s: apiKey does not parse: %v", e.where, err)
			continue
		}
		if k.Env() != credential.EnvTest {
			t.Errorf("%s: apiKey is a %s key, want a test key", e.where, k.Env())
		}
		if !bytes.Contains(credDoc, []byte(key)) {
			t.Errorf("%s: apiKey is not the example of shared/domain/credential/doc.go", e.where)
		}
		if id, _ := m["keyId"].(string); id != string(k.ID()) {
			t.Errorf("%s: keyId %q, the key's id is %q", e.where, id, k.ID())
		}
	}
	if n == 0 {
		t.Error("no apiKey example")
	}
	if loc := regexp.MustCompile(`(AKIA|ASIA)[0-9A-Z]{16}`).FindIndex(api.Document()); loc != nil {
		t.Errorf("openapi.json holds something shaped like an AWS access key id at byte %d", loc[0])
	}
}

// planned are the document's routes whose functions have not landed in topology.Lanyard() yet.
// Each moves out of this list when its route is declared.
var planned = map[string]bool{}

// Each route of the topology under a path the document describes has its method there, with the
// same authorization; each route of the document is declared in the topology or planned.
func TestRoutesMatchTopology(t *testing.T) {
	t.Parallel()
	d := doc(t)
	documented := map[string]operation{}
	paths := map[string]bool{}
	for _, o := range operations(t, d) {
		documented[o.method+" "+o.path] = o
		paths[o.path] = true
	}
	declared := map[string]bool{}
	for _, r := range topology.Lanyard().Routes {
		name := r.Method + " " + r.Path
		declared[name] = true
		if !paths[r.Path] {
			t.Logf("%s is declared in the topology but not described by openapi.json", name)
			continue
		}
		o, ok := documented[name]
		if !ok {
			t.Errorf("%s: the topology declares it, openapi.json has other methods for %s", name, r.Path)
			continue
		}
		if got := authOf(t, o); got != r.Auth {
			t.Errorf("%s: openapi.json security says %s, the topology %s", name, got, r.Auth)
		}
		if planned[name] {
			t.Errorf("%s is declared in the topology now: take it out of planned", name)
		}
	}
	var notYet []string
	for name := range documented {
		switch {
		case declared[name]:
		case planned[name]:
			notYet = append(notYet, name)
		default:
			t.Errorf("%s is in openapi.json but neither in the topology nor planned", name)
		}
	}
	sort.Strings(notYet)
	t.Logf("routes described but not yet in the topology: %s", strings.Join(notYet, ", "))
}

// authOf maps an operation's security requirement to the topology's authorization.
func authOf(t *testing.T, o operation) topology.Authorization {
	t.Helper()
	sec, _ := o.obj["security"].([]any)
	if len(sec) == 0 {
		return topology.AuthNone
	}
	if len(sec) > 1 {
		t.Errorf("%s %s: more than one security alternative", o.method, o.path)
	}
	req, _ := sec[0].(map[string]any)
	switch {
	case len(req) == 1 && req["sigv4"] != nil:
		return topology.AuthIAM
	case len(req) == 1 && req["partnerKey"] != nil:
		return topology.AuthPartnerKey
	}
	return topology.Authorization(fmt.Sprint(req))
}
