package policy_test

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	policyfile "github.com/lanyardhq/lanyard/policy"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

// production returns the production policy file as a generic JSON document to mutate.
func production(t *testing.T) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(policyfile.JSON(), &doc); err != nil {
		t.Fatalf("production policy: %v", err)
	}
	return doc
}

// edit is one change to a JSON document at a JSON pointer: set a value (a final "-" appends
// to an array) or, with del, remove the member.
type edit struct {
	ptr   string
	value any
	del   bool
}

func set(ptr string, v any) edit { return edit{ptr: ptr, value: v} }
func del(ptr string) edit        { return edit{ptr: ptr, del: true} }

func apply(t *testing.T, doc map[string]any, edits ...edit) []byte {
	t.Helper()
	for _, e := range edits {
		segs := strings.Split(strings.TrimPrefix(e.ptr, "/"), "/")
		var parent any = doc
		for _, s := range segs[:len(segs)-1] {
			parent = child(t, parent, s, e.ptr)
		}
		last := segs[len(segs)-1]
		switch p := parent.(type) {
		case map[string]any:
			if e.del {
				delete(p, last)
			} else {
				p[last] = e.value
			}
		case []any:
			switch {
			case e.del:
				t.Fatalf("edit %s: deleting from an array is not supported", e.ptr)
			case last == "-":
				// Re-attach the grown slice to its own parent.
				setAt(t, doc, segs[:len(segs)-1], append(p, e.value))
			default:
				i, err := strconv.Atoi(last)
				if err != nil || i < 0 || i >= len(p) {
					t.Fatalf("edit %s: no item %s", e.ptr, last)
				}
				p[i] = e.value
			}
		default:
			t.Fatalf("edit %s: parent is %T", e.ptr, parent)
		}
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

func child(t *testing.T, v any, seg, ptr string) any {
	t.Helper()
	switch c := v.(type) {
	case map[string]any:
		return c[seg]
	case []any:
		i, err := strconv.Atoi(seg)
		if err != nil || i < 0 || i >= len(c) {
			t.Fatalf("edit %s: no item %s", ptr, seg)
		}
		return c[i]
	}
	t.Fatalf("edit %s: cannot descend into %T", ptr, v)
	return nil
}

func setAt(t *testing.T, doc map[string]any, segs []string, v any) {
	t.Helper()
	var parent any = doc
	for _, s := range segs[:len(segs)-1] {
		parent = child(t, parent, s, strings.Join(segs, "/"))
	}
	switch p := parent.(type) {
	case map[string]any:
		p[segs[len(segs)-1]] = v
	case []any:
		i, _ := strconv.Atoi(segs[len(segs)-1])
		p[i] = v
	}
}

// problems returns the one-line problems of a refused policy; it fails the test if Parse
// accepted it or failed in another way.
func problems(t *testing.T, b []byte) []string {
	t.Helper()
	_, err := policy.Parse(b)
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", b)
	}
	var invalid *policy.InvalidError
	if !errors.As(err, &invalid) {
		t.Fatalf("Parse: %v, want an *InvalidError", err)
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != len(invalid.Problems) {
		t.Errorf("Error() has %d lines for %d problems", len(lines), len(invalid.Problems))
	}
	return lines
}

// mustParse parses a policy that must be valid.
func mustParse(t *testing.T, b []byte) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(b)
	if err != nil {
		t.Fatalf("Parse:\n%v", err)
	}
	return p
}
