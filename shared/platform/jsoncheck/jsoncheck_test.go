package jsoncheck_test

import (
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/lanyardhq/lanyard/shared/platform/jsoncheck"
)

const testSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["name", "tags"],
  "additionalProperties": false,
  "properties": {
    "name": {"type": "string", "pattern": "^[a-z]+$"},
    "tags": {"type": "array", "uniqueItems": true, "items": {"type": "string"}},
    "limit": {"type": "integer", "minimum": 1},
    "owner": {
      "type": "object",
      "required": ["id", "team"],
      "properties": {"id": {"type": "string"}},
      "unevaluatedProperties": false
    }
  }
}`

// validationError validates instance against testSchema and returns the error it refuses it with.
func validationError(t *testing.T, instance string) *jsonschema.ValidationError {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(strings.NewReader(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("test.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("test.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(strings.NewReader(instance))
	if err != nil {
		t.Fatal(err)
	}
	var ve *jsonschema.ValidationError
	if err := s.Validate(inst); !errors.As(err, &ve) {
		t.Fatalf("Validate(%s) = %v, want a *jsonschema.ValidationError", instance, err)
	}
	return ve
}

func TestFailuresNameTheItemItself(t *testing.T) {
	t.Parallel()
	ve := validationError(t, `{
		"name": "Bad Name",
		"tags": ["a", "b", "a"],
		"limit": 0,
		"colour": "blue",
		"owner": {"id": "x", "secret/key": 1}
	}`)
	type row struct {
		kind    jsoncheck.Kind
		pointer string
		earlier int
		keyword string
	}
	var got []row
	for _, f := range jsoncheck.Failures(ve) {
		r := row{kind: f.Kind, pointer: jsoncheck.Pointer(f.Path), earlier: f.Earlier}
		switch f.Keyword.(type) {
		case *kind.Pattern:
			r.keyword = "pattern"
		case *kind.Minimum:
			r.keyword = "minimum"
		}
		got = append(got, r)
	}
	slices.SortFunc(got, func(a, b row) int { return strings.Compare(a.pointer, b.pointer) })
	want := []row{
		{kind: jsoncheck.Unknown, pointer: "/colour"},
		{kind: jsoncheck.Invalid, pointer: "/limit", keyword: "minimum"},
		{kind: jsoncheck.Invalid, pointer: "/name", keyword: "pattern"},
		{kind: jsoncheck.Unknown, pointer: "/owner/secret~1key"},
		{kind: jsoncheck.Missing, pointer: "/owner/team"},
		{kind: jsoncheck.Duplicate, pointer: "/tags/2", earlier: 0},
	}
	if !slices.Equal(got, want) {
		t.Errorf("failures\n got %+v\nwant %+v", got, want)
	}
}

func TestFailuresOnePerMissingMember(t *testing.T) {
	t.Parallel()
	var got []string
	for _, f := range jsoncheck.Failures(validationError(t, `{}`)) {
		if f.Kind != jsoncheck.Missing {
			t.Errorf("%s: kind %d, want Missing", jsoncheck.Pointer(f.Path), f.Kind)
		}
		if _, ok := f.Keyword.(*kind.Required); !ok {
			t.Errorf("%s: keyword %T, want *kind.Required", jsoncheck.Pointer(f.Path), f.Keyword)
		}
		got = append(got, jsoncheck.Pointer(f.Path))
	}
	slices.Sort(got)
	if want := []string{"/name", "/tags"}; !slices.Equal(got, want) {
		t.Errorf("missing %q, want %q", got, want)
	}
}

// Leaves keeps the validator's own locations: a missing member is reported at its object.
func TestLeavesKeepTheValidatorsLocation(t *testing.T) {
	t.Parallel()
	leaves := jsoncheck.Leaves(validationError(t, `{"name": "ok", "tags": [], "owner": {"id": "x"}}`))
	if len(leaves) != 1 {
		t.Fatalf("%d leaves, want 1", len(leaves))
	}
	l := leaves[0]
	if len(l.Causes) != 0 || jsoncheck.Where(l.InstanceLocation) != "/owner" {
		t.Errorf("leaf at %q with %d causes, want /owner with none", jsoncheck.Where(l.InstanceLocation), len(l.Causes))
	}
	if got, want := jsoncheck.Text(l.ErrorKind), "missing property 'team'"; got != want {
		t.Errorf("Text = %q, want %q", got, want)
	}
}

func TestRepeatedKeys(t *testing.T) {
	t.Parallel()
	doc := `{"a": 1, "b": {"c": [{"d": 1, "d": 2, "d": 3}], "c": null}, "a~/": 0, "a~/": 1, "a": 2}`
	paths, err := jsoncheck.RepeatedKeys([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	got := make([]string, len(paths))
	for i, p := range paths {
		got[i] = jsoncheck.Pointer(p)
	}
	want := []string{"/b/c/0/d", "/b/c/0/d", "/b/c", "/a~0~1", "/a"}
	if !slices.Equal(got, want) {
		t.Errorf("repeated keys %q, want %q", got, want)
	}
}

func TestRepeatedKeysNone(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{`{}`, `[]`, `"a"`, `{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}`} {
		paths, err := jsoncheck.RepeatedKeys([]byte(doc))
		if err != nil || len(paths) != 0 {
			t.Errorf("RepeatedKeys(%s) = %q, %v; want none", doc, paths, err)
		}
	}
}

func TestRepeatedKeysNotJSON(t *testing.T) {
	t.Parallel()
	paths, err := jsoncheck.RepeatedKeys([]byte(`{"a": 1, "a": 2, "b": `))
	if err == nil {
		t.Fatal("no error for a truncated document")
	}
	if len(paths) != 1 || jsoncheck.Pointer(paths[0]) != "/a" {
		t.Errorf("paths %q, want the one found before the error", paths)
	}
}

func TestPointers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path           []string
		pointer, where string
	}{
		{nil, "", "/"},
		{[]string{""}, "/", "/"},
		{[]string{"tiers", "1", "scopes"}, "/tiers/1/scopes", "/tiers/1/scopes"},
		{[]string{"a/b", "~c"}, "/a~1b/~0c", "/a~1b/~0c"},
		{[]string{"~1"}, "/~01", "/~01"},
	}
	for _, tt := range tests {
		if got := jsoncheck.Pointer(tt.path); got != tt.pointer {
			t.Errorf("Pointer(%q) = %q, want %q", tt.path, got, tt.pointer)
		}
		if got := jsoncheck.Where(tt.path); got != tt.where {
			t.Errorf("Where(%q) = %q, want %q", tt.path, got, tt.where)
		}
	}
	if got := jsoncheck.Escape("/paths/~x"); got != "~1paths~1~0x" {
		t.Errorf("Escape = %q", got)
	}
}

func TestNumber(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"3600": "3600", "-2": "-2", "1/2": "0.5", "1/3": "0.333333", "5/4": "1.25"} {
		r, ok := new(big.Rat).SetString(in)
		if !ok {
			t.Fatalf("bad rat %s", in)
		}
		if got := jsoncheck.Number(r); got != want {
			t.Errorf("Number(%s) = %q, want %q", in, got, want)
		}
	}
}
