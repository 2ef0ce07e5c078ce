package front

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// invokeAction is the action an authorizer's policy must allow on the method ARN.
const invokeAction = "execute-api:Invoke"

// policy is the IAM policy document a Lambda authorizer returns, evaluated as IAM evaluates an
// identity policy for execute-api:Invoke: an explicit Deny wins, then an Allow, and without
// either the request is denied.
type policy struct {
	statements []statement
}

type statement struct {
	allow       bool
	actions     []string
	notAction   bool // the statement names NotAction: it applies to every other action
	resources   []string
	notResource bool
}

// decision is a policy's verdict on one method ARN.
type decision int

const (
	implicitDeny decision = iota
	allowed
	explicitDeny
)

func (p policy) evaluate(methodArn string) decision {
	d := implicitDeny
	for _, s := range p.statements {
		if !s.applies(invokeAction, methodArn) {
			continue
		}
		if !s.allow {
			return explicitDeny
		}
		d = allowed
	}
	return d
}

func (s statement) applies(action, resource string) bool {
	return anyMatch(s.actions, action, true) != s.notAction &&
		anyMatch(s.resources, resource, false) != s.notResource
}

func anyMatch(patterns []string, value string, foldCase bool) bool {
	for _, p := range patterns {
		if foldCase {
			if wildcardMatch(strings.ToLower(p), strings.ToLower(value)) {
				return true
			}
		} else if wildcardMatch(p, value) {
			return true
		}
	}
	return false
}

// wildcardMatch matches IAM's wildcards: * is any run of characters (slashes and colons
// included), ? is any one character.
func wildcardMatch(pattern, value string) bool {
	p, v := []rune(pattern), []rune(value)
	pi, vi := 0, 0
	star, mark := -1, 0
	for vi < len(v) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == v[vi]):
			pi++
			vi++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, vi
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			vi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// parsePolicy reads a policyDocument. Statement may be one object or a list; Action, NotAction,
// Resource and NotResource a string or a list. A statement with a Condition, a Principal or an
// unknown key is refused (the authorizer's output is then a configuration error): the front
// does not evaluate conditions, and granting or denying while ignoring one would be wrong
// either way.
func parsePolicy(doc json.RawMessage) (policy, error) {
	var d struct {
		Version   string          `json:"Version"`
		Statement json.RawMessage `json:"Statement"`
	}
	if err := json.Unmarshal(doc, &d); err != nil || len(bytes.TrimSpace(doc)) == 0 || bytes.TrimSpace(doc)[0] != '{' {
		return policy{}, errors.New("policyDocument is not a JSON object")
	}
	raw, err := oneOrMany[map[string]json.RawMessage](d.Statement)
	if err != nil || len(raw) == 0 {
		return policy{}, errors.New("policyDocument has no Statement")
	}
	var p policy
	for i, st := range raw {
		s, err := parseStatement(st)
		if err != nil {
			return policy{}, fmt.Errorf("statement %d: %w", i, err)
		}
		p.statements = append(p.statements, s)
	}
	return p, nil
}

func parseStatement(st map[string]json.RawMessage) (statement, error) {
	var s statement
	for k := range st {
		switch k {
		case "Sid", "Effect", "Action", "NotAction", "Resource", "NotResource":
		default:
			return s, fmt.Errorf("unsupported key %q", k)
		}
	}
	var effect string
	if err := json.Unmarshal(st["Effect"], &effect); err != nil {
		return s, errors.New("statement has no Effect")
	}
	switch effect {
	case "Allow":
		s.allow = true
	case "Deny":
	default:
		return s, fmt.Errorf("statement effect %q is neither Allow nor Deny", effect)
	}
	var err error
	if s.actions, s.notAction, err = patterns(st, "Action", "NotAction"); err != nil {
		return s, err
	}
	if s.resources, s.notResource, err = patterns(st, "Resource", "NotResource"); err != nil {
		return s, err
	}
	return s, nil
}

// patterns reads exactly one of key and notKey.
func patterns(st map[string]json.RawMessage, key, notKey string) ([]string, bool, error) {
	v, has := st[key]
	nv, hasNot := st[notKey]
	if has == hasNot {
		return nil, false, fmt.Errorf("needs exactly one of %s and %s", key, notKey)
	}
	if hasNot {
		v = nv
	}
	list, err := oneOrMany[string](v)
	if err != nil || len(list) == 0 {
		return nil, false, fmt.Errorf("%s must be a string or a list of strings", key)
	}
	return list, hasNot, nil
}

// oneOrMany reads a JSON value that is either one T or a list of T.
func oneOrMany[T any](v json.RawMessage) ([]T, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, errors.New("missing")
	}
	if v[0] == '[' {
		var list []T
		if err := json.Unmarshal(v, &list); err != nil {
			return nil, fmt.Errorf("decode list: %w", err)
		}
		return list, nil
	}
	var one T
	if err := json.Unmarshal(v, &one); err != nil {
		return nil, fmt.Errorf("decode value: %w", err)
	}
	return []T{one}, nil
}
