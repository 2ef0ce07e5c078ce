package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/platform/jsoncheck"
)

// SchemaID is the $id of policy/policy.schema.json.
const SchemaID = "https://github.com/lanyardhq/lanyard/policy/policy.schema.json"

// Problem is one thing wrong with a policy, at a JSON pointer into the file ("/" is the
// whole document).
type Problem struct {
	Pointer string
	Message string
}

// String renders the problem as one line: "/tiers/1/rotation/drainWindow: …".
func (p Problem) String() string { return p.Pointer + ": " + p.Message }

// InvalidError is returned for a policy with problems; it lists every one of them.
type InvalidError struct {
	Problems []Problem
}

// Error renders one problem per line.
func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects Problems in the order found.
type problems []Problem

func (ps *problems) add(pointer, format string, args ...any) {
	*ps = append(*ps, Problem{Pointer: pointer, Message: fmt.Sprintf(format, args...)})
}

// err returns nil, or an *InvalidError with the problems sorted by pointer, then message.
func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	out := slices.Clone(ps)
	slices.SortStableFunc(out, func(a, b Problem) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	out = slices.Compact(out)
	return &InvalidError{Problems: out}
}

// Parse reads a policy file: JSON without repeated keys, valid against the embedded
// policy.schema.json, then the semantic checks of Validate. Any problems come back together
// as an *InvalidError, one line each. A tier without a token exchange session duration gets
// DefaultSessionDuration.
func Parse(b []byte) (*Policy, error) {
	var ps problems
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		ps.add("/", "not valid JSON: %s", syntaxError(b, err))
		return nil, ps.err()
	}
	ps = append(ps, repeatedKeys(b)...)
	schema, err := compiledSchema()
	if err != nil {
		return nil, err
	}
	if err := schema.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, fmt.Errorf("validate policy against its schema: %w", err)
		}
		ps = append(ps, schemaProblems(ve)...)
	}
	if len(ps) > 0 {
		return nil, ps.err()
	}

	p := &Policy{}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p); err != nil {
		// The schema admitted what the Go types cannot hold: the two disagree.
		ps.add("/", "valid against the schema but not decodable (schema and Go types disagree): %v", err)
		return nil, ps.err()
	}
	for i := range p.Tiers {
		if p.Tiers[i].TokenExchange.SessionDuration == 0 {
			p.Tiers[i].TokenExchange.SessionDuration = DefaultSessionDuration
		}
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	sum := sha256.Sum256(b)
	p.digest = "sha256:" + hex.EncodeToString(sum[:])
	return p, nil
}

var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(policyfile.Schema()))
	if err != nil {
		return nil, fmt.Errorf("parse policy schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(SchemaID, doc); err != nil {
		return nil, fmt.Errorf("add policy schema: %w", err)
	}
	s, err := c.Compile(SchemaID)
	if err != nil {
		return nil, fmt.Errorf("compile policy schema: %w", err)
	}
	return s, nil
})

// syntaxError places a JSON syntax error at its line and column.
func syntaxError(b []byte, err error) string {
	var se *json.SyntaxError
	if !errors.As(err, &se) {
		return err.Error()
	}
	// Offset counts the bytes read, the offending one included.
	before := b[:min(max(int(se.Offset)-1, 0), len(b))]
	line := bytes.Count(before, []byte("\n")) + 1
	col := len(before) - bytes.LastIndexByte(before, '\n')
	return fmt.Sprintf("line %d, column %d: %v", line, col, se)
}

// repeatedKeys finds object keys that appear twice in one object. encoding/json keeps the
// last and says nothing, so a reviewer could approve one value while another takes effect.
func repeatedKeys(b []byte) problems {
	var ps problems
	paths, err := jsoncheck.RepeatedKeys(b)
	for _, at := range paths {
		ps.add(jsoncheck.Where(at), "key repeated in one object (JSON would keep only the last value)")
	}
	if err != nil {
		ps.add("/", "not valid JSON: %v", err)
	}
	return ps
}

// schemaProblems flattens a validation error to its leaves, one Problem each, naming the
// field itself where the schema names its parent (unknown and missing fields, duplicates).
func schemaProblems(ve *jsonschema.ValidationError) problems {
	var ps problems
	for _, f := range jsoncheck.Failures(ve) {
		ps.add(jsoncheck.Where(f.Path), "%s", failureMessage(f))
	}
	return ps
}

// failureMessage words one schema failure.
func failureMessage(f jsoncheck.Failure) string {
	switch f.Kind {
	case jsoncheck.Unknown:
		return jsoncheck.UnknownField
	case jsoncheck.Missing:
		return "required field missing"
	case jsoncheck.Duplicate:
		return fmt.Sprintf("duplicate of item %d, items must be unique", f.Earlier)
	}
	switch k := f.Keyword.(type) {
	case *kind.Pattern:
		return patternMessage(f.SchemaURL, k)
	case *kind.Minimum:
		return fmt.Sprintf("minimum: got %s, want %s or more", jsoncheck.Number(k.Got), jsoncheck.Number(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("maximum: got %s, want %s or less", jsoncheck.Number(k.Got), jsoncheck.Number(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("exclusiveMinimum: got %s, want more than %s", jsoncheck.Number(k.Got), jsoncheck.Number(k.Want))
	case *kind.Not:
		if strings.Contains(f.SchemaURL, "/positiveDuration") {
			return "must be longer than 0s"
		}
	}
	return jsoncheck.Text(f.Keyword)
}

// patternMessage says what a value should look like, by the $defs entry that failed.
func patternMessage(schemaURL string, k *kind.Pattern) string {
	switch {
	case strings.Contains(schemaURL, "/$defs/duration"):
		return fmt.Sprintf("%q is not a duration like \"15m\", \"1h30m\" or \"2160h\" (whole hours, minutes, seconds in that order; no days, no fractions)", k.Got)
	case strings.Contains(schemaURL, "/$defs/scope"):
		return fmt.Sprintf("%q is not a scope: lowercase segments joined by \":\", like \"orders:read\"", k.Got)
	case strings.Contains(schemaURL, "/$defs/tierName"):
		return fmt.Sprintf("%q is not a tier name: lowercase letters, digits and hyphens, starting with a letter, at most 32", k.Got)
	case strings.Contains(schemaURL, "/$defs/routeResource"):
		return routeMessage(k.Got)
	case strings.Contains(schemaURL, "/$defs/principal"):
		return fmt.Sprintf("%q is not a principal ARN pattern such as arn:aws:iam::<account>:role/<name>", k.Got)
	case strings.Contains(schemaURL, "/accountId"):
		return fmt.Sprintf("%q is not a 12-digit AWS account id", k.Got)
	}
	return jsoncheck.Text(k)
}
