// Package openapi is Lanyard's API contract: the OpenAPI 3.1 document of the partner and admin
// routes (openapi.json, compiled in) and the validation of request bodies against it. It sits
// below the features, which validate with it; the top-level api/ package serves the document
// and speaks for it to the tools and tests above shared/.
//
// The document is the one source of every request and response schema. A handler checks a body
// before it reads it:
//
//	if err := openapi.ValidateBody(openapi.OpCreatePartner, []byte(req.Body)); err != nil {
//		slog.InfoContext(ctx, "request refused", "error", err)
//		return problem.Response(problem.From(err)), nil
//	}
//
// The error names each failing field by its JSON pointer, one line each, and never repeats a
// value from the body; problem.From turns it into the validation problem (or bad-request, for a
// body that is not JSON), with the same fields in its errors member.
package openapi

import (
	"bytes"
	_ "embed" // openapi.json is compiled in
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/lanyardhq/lanyard/shared/platform/jsoncheck"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
)

//go:embed openapi.json
var document []byte

// DocumentURL is the base URI the document's schemas are compiled under; their
// "#/components/schemas/…" references resolve against it.
const DocumentURL = "https://github.com/lanyardhq/lanyard/api/openapi.json"

// The operations of the document, by operationId.
const (
	OpGetOpenAPIDocument = "getOpenAPIDocument" // GET /v1/openapi.json
	OpGetHealth          = "getHealth"          // GET /v1/health
	OpCreateInvite       = "createInvite"       // POST /v1/admin/invites
	OpCreatePartner      = "createPartner"      // POST /v1/partners
	OpGetOwnPartner      = "getOwnPartner"      // GET /v1/partners/me
	OpCreateToken        = "createToken"        // POST /v1/token
	OpListOnboardings    = "listOnboardings"    // GET /v1/admin/onboardings
	OpApproveOnboarding  = "approveOnboarding"  // POST /v1/admin/onboardings/{onboardingId}/approve
	OpDenyOnboarding     = "denyOnboarding"     // POST /v1/admin/onboardings/{onboardingId}/deny
	OpPickUpOnboarding   = "pickUpOnboarding"   // POST /v1/onboardings/{onboardingId}/pickup
	OpRotatePartnerKey   = "rotatePartnerKey"   // POST /v1/admin/partners/{partnerId}/rotate
	OpRevokePartnerKeys  = "revokePartnerKeys"  // POST /v1/admin/partners/{partnerId}/revoke
	OpPickUpReplacement  = "pickUpReplacement"  // POST /v1/replacements/{replacementId}/pickup

	OpGetCurrentCredential = "getCurrentCredential" // GET /v1/credentials/current
	OpAcknowledgeRotation  = "acknowledgeRotation"  // POST /v1/credentials/ack
	OpRevokeCredential     = "revokeCredential"     //nolint:gosec // G101: an operation id, not a credential (POST /v1/revoke)

	OpIntrospectKey = "introspectKey" // POST /v1/introspect
)

// Document returns the OpenAPI document, as GET /v1/openapi.json serves it. The slice is a copy.
func Document() []byte { return bytes.Clone(document) }

// ErrNoRequestBody is returned by ValidateBody for an operation the document gives no JSON
// request body (or does not have): a programming error, not the client's.
var ErrNoRequestBody = errors.New("operation has no JSON request body in the OpenAPI document")

var compiled = sync.OnceValues(compileBodies)

// compileBodies compiles the application/json request-body schema of every operation. The whole
// document is one JSON Schema 2020-12 resource (OpenAPI 3.1 schemas are 2020-12); each body
// schema is compiled from its JSON pointer into it, so its $refs resolve in the document.
func compileBodies() (map[string]*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(document))
	if err != nil {
		return nil, fmt.Errorf("parse embedded openapi.json: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(DocumentURL, doc); err != nil {
		return nil, fmt.Errorf("add openapi.json as a schema resource: %w", err)
	}
	root, _ := doc.(map[string]any)
	paths, _ := root["paths"].(map[string]any)
	out := map[string]*jsonschema.Schema{}
	for _, path := range slices.Sorted(maps.Keys(paths)) {
		item, _ := paths[path].(map[string]any)
		for _, method := range []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"} {
			op, ok := item[method].(map[string]any)
			if !ok {
				continue
			}
			id, _ := op["operationId"].(string)
			ptr := "/paths/" + jsoncheck.Escape(path) + "/" + method + "/requestBody"
			body, ok := op["requestBody"].(map[string]any)
			if !ok {
				continue
			}
			if ref, isRef := body["$ref"].(string); isRef { // a body shared in components/requestBodies
				ptr = strings.TrimPrefix(ref, "#")
				if body, ok = lookup(root, ptr).(map[string]any); !ok || !strings.HasPrefix(ref, "#/") {
					return nil, fmt.Errorf("request body of %s: $ref %q does not resolve in the document", id, ref)
				}
			}
			content, _ := body["content"].(map[string]any)
			if _, ok := content["application/json"]; !ok {
				continue
			}
			s, err := c.Compile(DocumentURL + "#" + ptr + "/content/application~1json/schema")
			if err != nil {
				return nil, fmt.Errorf("compile request body schema of %s: %w", id, err)
			}
			out[id] = s
		}
	}
	return out, nil
}

// lookup returns the value at a JSON pointer in doc, or nil.
func lookup(doc any, ptr string) any {
	for _, seg := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(seg)]
	}
	return doc
}

// BodyError is a request body the operation's schema refuses, or one that is not JSON. It
// unwraps to the problem the client gets, so problem.From(err) finds it.
type BodyError struct {
	// Operation is the operationId the body was sent to.
	Operation string
	// NotJSON says the body is not a JSON document at all; Reason says where it breaks.
	NotJSON bool
	Reason  string
	// Fields are the failing fields, sorted by pointer.
	Fields []problem.FieldError
}

// Error renders the refusal for the log, one line per field: "/scopes/1: must be a scope: …".
// The body itself is the pointer "" and shows as "(body)".
func (e *BodyError) Error() string {
	if e.NotJSON {
		return "request body of " + e.Operation + " is not JSON: " + e.Reason
	}
	lines := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		if f.Pointer == "" {
			f.Pointer = "(body)"
		}
		lines[i] = f.String()
	}
	return strings.Join(lines, "\n")
}

// Problem is the problem the client gets: bad-request for a body that is not JSON, validation
// listing the fields otherwise.
func (e *BodyError) Problem() *problem.Error {
	if e.NotJSON {
		return problem.BadRequest.New("")
	}
	return problem.NewValidation(e.Fields...)
}

// Unwrap returns Problem(), so that problem.From and errors.As find it.
func (e *BodyError) Unwrap() error { return e.Problem() }

// ValidateBody checks a request body against the request-body schema of the operation
// operationID. It returns nil, a *BodyError naming every failing field (or saying the body is not
// JSON), or — for an operation without a JSON request body — an error matching ErrNoRequestBody.
// Fields repeated in an object are refused too: they would let the schema see one value and a
// handler another.
func ValidateBody(operationID string, body []byte) error {
	schemas, err := compiled()
	if err != nil {
		return err
	}
	s, ok := schemas[operationID]
	if !ok {
		return fmt.Errorf("validate body of %q: %w", operationID, ErrNoRequestBody)
	}
	inst, reason := decode(body)
	if reason != "" {
		return &BodyError{Operation: operationID, NotJSON: true, Reason: reason}
	}
	fields := repeatedFields(body)
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return fmt.Errorf("validate body of %s: %w", operationID, err)
		}
		fields = append(fields, schemaFields(ve)...)
	}
	if len(fields) == 0 {
		return nil
	}
	slices.SortFunc(fields, func(a, b problem.FieldError) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	return &BodyError{Operation: operationID, Fields: slices.Compact(fields)}
}

// decode parses body as one JSON value, numbers kept exact. On failure it says where, never what.
func decode(body []byte) (any, string) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, "the body is empty"
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			return nil, "syntax error at byte " + strconv.FormatInt(se.Offset, 10)
		case errors.Is(err, io.ErrUnexpectedEOF):
			return nil, "the body ends inside a value"
		default:
			return nil, "the body cannot be decoded"
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, "more data follows the JSON value"
	}
	return v, ""
}

// repeatedFields reports each object member whose name appeared before in the same object.
// body is known to be valid JSON.
func repeatedFields(body []byte) []problem.FieldError {
	paths, _ := jsoncheck.RepeatedKeys(body) // the body decoded already; a token error cannot happen
	out := make([]problem.FieldError, len(paths))
	for i, at := range paths {
		out[i] = field(at, "is repeated; send each field once")
	}
	return out
}

// schemaFields flattens a validation error to one field error per failing leaf, pointing at the
// field itself where the schema reports its parent (missing, unknown and repeated items).
func schemaFields(ve *jsonschema.ValidationError) []problem.FieldError {
	failures := jsoncheck.Failures(ve)
	out := make([]problem.FieldError, len(failures))
	for i, f := range failures {
		if msg, at, ok := oneOfMessage(f); ok {
			out[i] = field(at, msg)
			continue
		}
		out[i] = field(f.Path, failureMessage(f))
	}
	return out
}

// oneOfMessages say in words what the oneOf of a schema request bodies use asks for. Without
// them, a body matching none of the alternatives would be told each alternative's required
// member "is required", and one matching several that it "is not valid here".
var oneOfMessages = map[string]string{
	"CreatePartnerRequest": "must hold exactly one of inviteCode and identityRequest",
}

// oneOfRE matches where a oneOf of a component schema fails: the component itself (the
// keyword oneOf) or one of its alternatives (a required member).
var oneOfRE = regexp.MustCompile(`#/components/schemas/([A-Za-z0-9]+)(/oneOf/[0-9]+)?$`)

// oneOfMessage words a failure of a oneOf listed in oneOfMessages — the oneOf itself, or a
// required member of one of its alternatives — as one message about the object holding it.
func oneOfMessage(f jsoncheck.Failure) (msg string, at []string, ok bool) {
	m := oneOfRE.FindStringSubmatch(f.SchemaURL)
	if m == nil {
		return "", nil, false
	}
	_, isOneOf := f.Keyword.(*kind.OneOf)
	if isOneOf == (m[2] != "") || (!isOneOf && f.Kind != jsoncheck.Missing) {
		return "", nil, false
	}
	if msg, ok = oneOfMessages[m[1]]; !ok {
		return "", nil, false
	}
	at = f.Path
	if f.Kind == jsoncheck.Missing && len(at) > 0 {
		at = at[:len(at)-1]
	}
	return msg, at, true
}

// failureMessage words one schema failure without repeating the value.
func failureMessage(f jsoncheck.Failure) string {
	switch f.Kind {
	case jsoncheck.Missing:
		return "is required"
	case jsoncheck.Unknown:
		return jsoncheck.UnknownField
	case jsoncheck.Duplicate:
		return "repeats item " + strconv.Itoa(f.Earlier) + "; items must be unique"
	}
	return message(f.SchemaURL, f.Keyword)
}

// message says what a value must be, from the schema alone: no kind's own text is used, since
// several of them quote the value.
func message(schemaURL string, k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = article(w)
		}
		return "must be " + strings.Join(want, " or ")
	case *kind.MinLength:
		if k.Want == 1 {
			return "must not be empty"
		}
		return fmt.Sprintf("must be at least %d characters long", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("must be at most %d characters long", k.Want)
	case *kind.Pattern:
		return patternMessage(schemaURL, k.Want)
	case *kind.Enum:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return "must be one of: " + strings.Join(want, ", ")
	case *kind.Const:
		return fmt.Sprintf("must be %v", k.Want)
	case *kind.Minimum:
		return "must be at least " + jsoncheck.Number(k.Want)
	case *kind.Maximum:
		return "must be at most " + jsoncheck.Number(k.Want)
	case *kind.ExclusiveMinimum:
		return "must be more than " + jsoncheck.Number(k.Want)
	case *kind.ExclusiveMaximum:
		return "must be less than " + jsoncheck.Number(k.Want)
	case *kind.MultipleOf:
		return "must be a multiple of " + jsoncheck.Number(k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("must hold at least %d %s", k.Want, plural(k.Want, "item"))
	case *kind.MaxItems:
		return fmt.Sprintf("must hold at most %d %s", k.Want, plural(k.Want, "item"))
	case *kind.MinProperties:
		return fmt.Sprintf("must hold at least %d %s", k.Want, plural(k.Want, "field"))
	case *kind.MaxProperties:
		return fmt.Sprintf("must hold at most %d %s", k.Want, plural(k.Want, "field"))
	case *kind.Format:
		return "must be a valid " + k.Want
	}
	return "is not valid here"
}

// patternMessages say in words what the patterns of the schemas request bodies use ask for;
// any other pattern is quoted.
var patternMessages = map[string]string{ //nolint:gosec // G101: what a token looks like, not a token
	"PartnerName": "must not start or end with white space or hold control characters",
	"Scope":       `must be a scope: lowercase segments joined by ":", like "orders:read"`,
	"InviteCode":  `must be an invite code: letters, digits, "_" and "-"`,
	"PickupToken": `must be a pick-up token: "lnyd_pku_" and 43 letters and digits`,
}

var componentRE = regexp.MustCompile(`#/components/schemas/([A-Za-z0-9]+)`)

func patternMessage(schemaURL, pattern string) string {
	if m := componentRE.FindAllStringSubmatch(schemaURL, -1); m != nil {
		if msg, ok := patternMessages[m[len(m)-1][1]]; ok {
			return msg
		}
	}
	return "must match the pattern " + pattern
}

func article(jsonType string) string {
	switch jsonType {
	case "null":
		return "null"
	case "array", "object", "integer":
		return "an " + jsonType
	}
	return "a " + jsonType
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// safeName is an object member name that may be repeated back in a pointer. A longer or odder
// name — the one place a pointer could carry client data — could be a secret sent as a field
// name, so it is withheld and the pointer names the object it is in.
var safeName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,23}$`)

// field returns the field error at path, cutting the pointer at the first member name that is
// not safe to repeat (and then saying so in the message).
func field(path []string, msg string) problem.FieldError {
	for i, seg := range path {
		if !isIndex(seg) && (!safeName.MatchString(seg) || strings.HasPrefix(strings.ToLower(seg), "lnyd")) {
			return problem.FieldError{Pointer: jsoncheck.Pointer(path[:i]), Message: "has a field whose name is withheld: " + msg}
		}
	}
	return problem.FieldError{Pointer: jsoncheck.Pointer(path), Message: msg}
}

func isIndex(s string) bool {
	if s == "" || len(s) > 9 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
