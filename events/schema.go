package events

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

//go:embed schemas/*.json
var schemaFS embed.FS

// SchemaBaseURI is the base of every schema's $id.
const SchemaBaseURI = "https://github.com/lanyardhq/lanyard/events/schemas/"

// SchemaFile returns the schema file name of a detail type: "Credential Issued" →
// "credential-issued.json".
func SchemaFile(detailType string) string {
	return strings.ToLower(strings.ReplaceAll(detailType, " ", "-")) + ".json"
}

// Schema returns the JSON Schema document of a detail type.
func Schema(detailType string) ([]byte, error) {
	b, err := schemaFS.ReadFile("schemas/" + SchemaFile(detailType))
	if err != nil {
		return nil, fmt.Errorf("schema of %q: %w", detailType, err)
	}
	return b, nil
}

var (
	compileOnce sync.Once
	compiled    map[string]*jsonschema.Schema
	compileErr  error
)

func compileAll() (map[string]*jsonschema.Schema, error) {
	compileOnce.Do(func() {
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		entries, err := schemaFS.ReadDir("schemas")
		if err != nil {
			compileErr = fmt.Errorf("read embedded schemas: %w", err)
			return
		}
		for _, e := range entries {
			b, err := schemaFS.ReadFile("schemas/" + e.Name())
			if err != nil {
				compileErr = fmt.Errorf("read schema %s: %w", e.Name(), err)
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
			if err != nil {
				compileErr = fmt.Errorf("parse schema %s: %w", e.Name(), err)
				return
			}
			if err := c.AddResource(SchemaBaseURI+e.Name(), doc); err != nil {
				compileErr = fmt.Errorf("add schema %s: %w", e.Name(), err)
				return
			}
		}
		compiled = map[string]*jsonschema.Schema{}
		for _, t := range DetailTypes() {
			s, err := c.Compile(SchemaBaseURI + SchemaFile(t))
			if err != nil {
				compileErr = fmt.Errorf("compile schema of %q: %w", t, err)
				return
			}
			compiled[t] = s
		}
	})
	return compiled, compileErr
}

// Validate checks an EventBridge envelope against the schema of its detail type. The error
// names each failing field by its JSON pointer ("/detail/eventId: missing …").
func Validate(envelope []byte) error {
	schemas, err := compileAll()
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(envelope))
	if err != nil {
		return fmt.Errorf("event is not JSON: %w", err)
	}
	obj, ok := inst.(map[string]any)
	if !ok {
		return errors.New("event is not a JSON object")
	}
	dt, _ := obj["detail-type"].(string)
	s, ok := schemas[dt]
	if !ok {
		return fmt.Errorf("/detail-type: %w %q", ErrUnknownDetailType, dt)
	}
	if err := s.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return fmt.Errorf("%s event invalid: %s", dt, strings.Join(leafErrors(ve), "; "))
		}
		return fmt.Errorf("validate %s event: %w", dt, err)
	}
	return nil
}

// leafErrors flattens a validation error to "pointer: message" lines, most specific first.
func leafErrors(ve *jsonschema.ValidationError) []string {
	seen := map[string]bool{}
	var out []string
	for _, e := range leaves(ve) {
		msg := strings.TrimSpace(e.ErrorKind.LocalizedString(printer))
		if _, ok := e.ErrorKind.(*kind.FalseSchema); ok { // what unevaluatedProperties:false reports per extra field
			msg = unknownField
		}
		line := where(e.InstanceLocation) + ": " + msg
		if !seen[line] {
			seen[line] = true
			out = append(out, line)
		}
	}
	sort.Strings(out)
	return out
}

// events is a leaf every layer may import, so it words its failures itself, as the platform's
// jsoncheck does for the other validators: the same texts.

// unknownField is the message for a member the schema does not allow.
const unknownField = "unknown field, not allowed"

// printer renders the validator's own English text for a failing keyword.
var printer = message.NewPrinter(language.English)

// leaves returns the failures of a validation error that have no causes, in the order the
// validator reports them.
func leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return []*jsonschema.ValidationError{ve}
	}
	var out []*jsonschema.ValidationError
	for _, c := range ve.Causes {
		out = append(out, leaves(c)...)
	}
	return out
}

var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// where renders a path as a message line names it: its JSON pointer (RFC 6901), or "/" for the
// whole document.
func where(path []string) string {
	if len(path) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, seg := range path {
		b.WriteByte('/')
		b.WriteString(pointerEscaper.Replace(seg))
	}
	return b.String()
}
