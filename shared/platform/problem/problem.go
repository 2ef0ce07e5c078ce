// Package problem is every error Lanyard's API answers with: RFC 9457 problem details, sent as
// application/problem+json, each of a stable type from one catalogue (Types) documented in
// docs/problems.md.
//
// Public and internal errors are different things. A handler that means the client to see a
// problem returns a *Error (built from a catalogue Type: problem.NotFound.New("…"),
// NewValidation, NewScopesNotAllowed), wrapped as deeply as it likes. At the edge it logs the
// whole error chain and answers with
//
//	return problem.Response(problem.From(err)), nil
//
// From finds the *Error in the chain with errors.As; anything else — a failed SDK call, a bug,
// a nil error — becomes the generic Internal problem, whose detail is fixed. So an internal
// error string never reaches a client, whatever the handler does with it.
//
// Response is the last gate: it renders only catalogue types with 4xx and 5xx statuses, keeps
// extension members only on the types that declare them, and gives every 5xx problem the fixed
// Internal detail.
package problem

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ContentType is the media type of every problem body (RFC 9457 §3).
const ContentType = "application/problem+json"

// Problem is an RFC 9457 problem details object. The extension members are typed and belong to
// one type each: Errors to Validation, DeniedScopes to ScopesNotAllowed; Response drops them
// from any other type.
type Problem struct {
	// Type is the catalogue type's URI.
	Type string `json:"type"`
	// Title is the type's title.
	Title string `json:"title"`
	// Status is the HTTP status, repeated in the body.
	Status int `json:"status"`
	// Detail explains this occurrence to the client; it is written for the client and holds no
	// internal error text.
	Detail string `json:"detail,omitempty"`
	// Instance identifies this occurrence, when the handler knows a safe identifier for it.
	Instance string `json:"instance,omitempty"`

	// Errors lists each field of the request body that failed validation (Validation only).
	Errors []FieldError `json:"errors,omitempty"`
	// DeniedScopes are the requested scopes the tier does not allow (ScopesNotAllowed only).
	DeniedScopes []string `json:"deniedScopes,omitempty"`
}

// FieldError is one failing field of a request body: where, as a JSON pointer (RFC 6901) into
// the body, and what is wrong, in words that never repeat the value sent.
type FieldError struct {
	Pointer string `json:"pointer"`
	Message string `json:"message"`
}

// String renders the field error as one line: "/scopes/0: must be a scope like orders:read".
func (f FieldError) String() string { return f.Pointer + ": " + f.Message }

// Limits that keep a problem body small whatever the request held.
const (
	// MaxFieldErrors is the most field errors a validation problem lists.
	MaxFieldErrors = 20
	// MaxDeniedScopes is the most denied scopes a scopes-not-allowed problem lists.
	MaxDeniedScopes = 20

	maxPointer = 256
	maxMessage = 200
)

// Error is a problem meant for the client. Handlers return it (wrapped or not); From finds it
// with errors.As. Its cause, if any, is for the log: Error() includes it, the problem never does.
type Error struct {
	p     Problem
	cause error
}

// New returns a problem of type t as an error. An empty detail gives the type's default. Types
// whose detail would tell too much (Internal, InviteInvalid) always carry their fixed detail and
// ignore the argument: what the handler knows goes in WithCause, for the log.
func (t Type) New(detail string) *Error {
	if detail == "" || t.fixed {
		detail = t.detail
	}
	return &Error{p: Problem{Type: t.URI(), Title: t.title, Status: t.status, Detail: detail}}
}

// Newf is New with a formatted detail. The arguments must be safe to show the client.
func (t Type) Newf(format string, args ...any) *Error { return t.New(fmt.Sprintf(format, args...)) }

// WithCause returns a copy of e that carries cause for the log. The cause never reaches the
// client: use it for the reason an invite was refused, the conflicting item, the failed call.
func (e *Error) WithCause(cause error) *Error {
	c := *e
	c.p = e.Problem()
	c.cause = cause
	return &c
}

// WithInstance returns a copy of e whose problem names this occurrence (a request id, a
// resource path). The instance is shown to the client.
func (e *Error) WithInstance(instance string) *Error {
	c := *e
	c.p = e.Problem()
	c.p.Instance = instance
	return &c
}

// Problem returns a copy of the problem the client sees.
func (e *Error) Problem() Problem {
	p := e.p
	p.Errors = slices.Clone(p.Errors)
	p.DeniedScopes = slices.Clone(p.DeniedScopes)
	return p
}

// Type returns the catalogue type of the problem.
func (e *Error) Type() Type {
	t, ok := Lookup(e.p.Type)
	if !ok {
		return Internal
	}
	return t
}

// Error renders the problem for the log: "invite-invalid (403): <detail>: <cause>", with each
// field error of a validation problem.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Type().anchor)
	b.WriteString(" (")
	b.WriteString(strconv.Itoa(e.p.Status))
	b.WriteString("): ")
	b.WriteString(e.p.Detail)
	for i, f := range e.p.Errors {
		if i == 0 {
			b.WriteString(" ")
		} else {
			b.WriteString("; ")
		}
		b.WriteString(f.String())
	}
	if len(e.p.DeniedScopes) > 0 {
		b.WriteString(" [" + strings.Join(e.p.DeniedScopes, " ") + "]")
	}
	if e.cause != nil {
		b.WriteString(": ")
		b.WriteString(e.cause.Error())
	}
	return b.String()
}

// Unwrap returns the cause, so errors.Is and errors.As see through a public problem to it.
func (e *Error) Unwrap() error { return e.cause }

// From returns the problem the client sees for err: the problem of the first *Error in err's
// chain, or else — for any other error, and for nil — the generic Internal problem. The caller
// logs err; the client never sees it.
func From(err error) Problem {
	var pe *Error
	if errors.As(err, &pe) && pe != nil {
		return pe.Problem()
	}
	return Internal.New("").p
}

// Of returns the catalogue type of the public problem in err's chain, if there is one.
func Of(err error) (Type, bool) {
	var pe *Error
	if errors.As(err, &pe) && pe != nil {
		return pe.Type(), true
	}
	return Type{}, false
}

// NewValidation returns a Validation problem listing the fields that failed, sorted by pointer,
// without repeats, at most MaxFieldErrors of them (the detail counts the rest). Pointers that are
// not JSON pointers, and overlong pointers and messages, are cut down so that the body stays small.
func NewValidation(fields ...FieldError) *Error {
	var clean []FieldError
	for _, f := range fields {
		clean = append(clean, FieldError{Pointer: safePointer(f.Pointer), Message: truncate(f.Message, maxMessage)})
	}
	slices.SortFunc(clean, func(a, b FieldError) int {
		if c := strings.Compare(a.Pointer, b.Pointer); c != 0 {
			return c
		}
		return strings.Compare(a.Message, b.Message)
	})
	clean = slices.Compact(clean)
	e := Validation.New("")
	switch n := len(clean); {
	case n == 1:
		e.p.Detail = "The request body does not match the schema of this operation: 1 field is invalid; see errors."
	case n > MaxFieldErrors:
		e.p.Detail = fmt.Sprintf("The request body does not match the schema of this operation: %d fields are invalid; errors lists the first %d.", n, MaxFieldErrors)
		clean = clean[:MaxFieldErrors]
	case n > 1:
		e.p.Detail = fmt.Sprintf("The request body does not match the schema of this operation: %d fields are invalid; see errors.", n)
	}
	e.p.Errors = clean
	return e
}

// scopeRE is a well-formed scope, as policy/policy.schema.json defines it.
var scopeRE = regexp.MustCompile(`^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)+$`)

// tierRE is a well-formed tier name, as policy/policy.schema.json defines it.
var tierRE = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// NewScopesNotAllowed returns a ScopesNotAllowed problem for a request the tier refused,
// listing the denied scopes (policy.Decision.Denied). Only well-formed scopes are listed (at
// most MaxDeniedScopes, sorted, without repeats): anything else in a request never passed the
// schema and is not repeated back.
func NewScopesNotAllowed(tier string, denied []string) *Error {
	var list []string
	for _, s := range denied {
		if len(s) <= 64 && scopeRE.MatchString(s) {
			list = append(list, s)
		}
	}
	slices.Sort(list)
	list = slices.Compact(list)
	if len(list) > MaxDeniedScopes {
		list = list[:MaxDeniedScopes]
	}
	e := ScopesNotAllowed.New("")
	if tierRE.MatchString(tier) {
		e.p.Detail = "Some requested scopes are not allowed for tier " + tier + "; see deniedScopes."
	}
	e.p.DeniedScopes = list
	return e
}

// safePointer returns p if it is a JSON pointer of reasonable length ("" is the whole body),
// else the longest safe prefix of it ending at a segment boundary, or "".
func safePointer(p string) string {
	if p != "" && !strings.HasPrefix(p, "/") {
		return ""
	}
	for len(p) > maxPointer || strings.ContainsFunc(p, isControl) {
		i := strings.LastIndexByte(p, '/')
		if i < 0 {
			return ""
		}
		p = p[:i]
	}
	return p
}

func truncate(s string, n int) string {
	s = strings.Map(func(r rune) rune {
		if isControl(r) {
			return ' '
		}
		return r
	}, s)
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !isRuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func isControl(r rune) bool   { return r < 0x20 || r == 0x7f }
func isRuneStart(b byte) bool { return b&0xC0 != 0x80 }
