// Package jsoncheck is what Lanyard's validators share about what is wrong with a JSON document:
// the leaves of a JSON Schema validation error as structured failures, object keys repeated in
// one object, and JSON pointers (RFC 6901) to both.
//
// Each caller words its own messages from the failures; the helpers here that produce text say
// whether the text can repeat a value from the document.
package jsoncheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// UnknownField is the message for a member the schema does not allow.
const UnknownField = "unknown field, not allowed"

// Leaves returns the failures of a validation error that have no causes, in the order the
// validator reports them. Their InstanceLocation is where the keyword failed: for a missing,
// unknown or repeated item that is the object or array holding it.
func Leaves(ve *jsonschema.ValidationError) []*jsonschema.ValidationError {
	var out []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			out = append(out, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	return out
}

// Kind says what a Failure is about, and so what its Path names.
type Kind int

const (
	// Invalid is a value that fails its keyword (Failure.Keyword); Path names the value.
	Invalid Kind = iota
	// Missing is a required member that is absent; Path names the member.
	Missing
	// Unknown is a member the schema does not allow (additionalProperties, or a false schema such
	// as unevaluatedProperties: false); Path names the member.
	Unknown
	// Duplicate is an array item equal to an earlier one (uniqueItems); Path names the later item
	// and Failure.Earlier is the index of the first.
	Duplicate
)

// Failure is one thing a schema refuses in a document.
type Failure struct {
	Kind Kind
	// Path is the instance path, one segment a member name or array index; empty is the whole
	// document.
	Path []string
	// Earlier is the index of the item a Duplicate repeats.
	Earlier int
	// Keyword is the validator's own report of the failing keyword. Its text (see Text) can quote
	// the value.
	Keyword jsonschema.ErrorKind
	// SchemaURL locates the failing keyword in the schema: which definition refused the value.
	SchemaURL string
}

// Failures flattens a validation error to its leaves, in the order the validator reports them,
// one Failure per missing or unknown member: the path names the member or item itself where the
// validator names the object or array holding it.
func Failures(ve *jsonschema.ValidationError) []Failure {
	var out []Failure
	for _, e := range Leaves(ve) {
		at := e.InstanceLocation
		f := Failure{Path: at, Keyword: e.ErrorKind, SchemaURL: e.SchemaURL}
		switch k := e.ErrorKind.(type) {
		case *kind.Required:
			for _, name := range k.Missing {
				f.Kind, f.Path = Missing, append(slices.Clip(at), name)
				out = append(out, f)
			}
		case *kind.AdditionalProperties:
			for _, name := range k.Properties {
				f.Kind, f.Path = Unknown, append(slices.Clip(at), name)
				out = append(out, f)
			}
		case *kind.FalseSchema:
			f.Kind = Unknown
			out = append(out, f)
		case *kind.UniqueItems:
			f.Kind, f.Path, f.Earlier = Duplicate, append(slices.Clip(at), strconv.Itoa(k.Duplicates[1])), k.Duplicates[0]
			out = append(out, f)
		default:
			out = append(out, f)
		}
	}
	return out
}

// RepeatedKeys returns the path of each object member whose key appeared before in the same
// object, in document order. encoding/json keeps the last value and says nothing, so a reader
// could check one value while another takes effect. An error means doc is not valid JSON; the
// paths found before it are returned with it.
func RepeatedKeys(doc []byte) ([][]string, error) {
	var out [][]string
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var walk func(path []string) error
	walk = func(path []string) error {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		delim, ok := tok.(json.Delim)
		if !ok {
			return nil
		}
		if delim == '[' {
			for i := 0; dec.More(); i++ {
				if err := walk(append(slices.Clip(path), strconv.Itoa(i))); err != nil {
					return err
				}
			}
		} else {
			seen := map[string]bool{}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return fmt.Errorf("read key: %w", err)
				}
				key, _ := tok.(string)
				at := append(slices.Clip(path), key)
				if seen[key] {
					out = append(out, at)
				}
				seen[key] = true
				if err := walk(at); err != nil {
					return err
				}
			}
		}
		_, err = dec.Token() // the closing delimiter
		return err
	}
	err := walk(nil)
	return out, err
}

var escaper = strings.NewReplacer("~", "~0", "/", "~1")

// Escape escapes one JSON pointer segment: "~" as "~0", "/" as "~1".
func Escape(segment string) string { return escaper.Replace(segment) }

// Pointer renders a path as a JSON pointer; the whole document is "".
func Pointer(path []string) string {
	var b strings.Builder
	for _, seg := range path {
		b.WriteByte('/')
		b.WriteString(Escape(seg))
	}
	return b.String()
}

// Where renders a path as a message line names it: its JSON pointer, or "/" for the whole
// document.
func Where(path []string) string {
	if len(path) == 0 {
		return "/"
	}
	return Pointer(path)
}

// Number renders a schema number as written: "3600", "0.5".
func Number(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	return strings.TrimRight(r.FloatString(6), "0")
}

var printer = message.NewPrinter(language.English)

// Text is the validator's own English text for a failing keyword. Many kinds quote the value
// ("'yesterday' is not valid date-time"): not for messages that must not repeat one.
func Text(k jsonschema.ErrorKind) string {
	return strings.TrimSpace(k.LocalizedString(printer))
}
