package problem_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/topology"
)

// docHeading is one "### anchor" section of docs/problems.md and the first word of its text.
type docHeading struct {
	anchor string
	status string // "400", "4xx"
}

// headingRE matches the headings the catalogue documents types under.
var headingRE = regexp.MustCompile(`^###\s+(.+?)\s*$`)

// readDocs returns the type headings of docs/problems.md with their GitHub anchors.
func readDocs(t *testing.T) []docHeading {
	t.Helper()
	f, err := os.Open("../../../docs/problems.md")
	if err != nil {
		t.Fatalf("open docs/problems.md: %v", err)
	}
	defer f.Close()
	var out []docHeading
	sc := bufio.NewScanner(f)
	fenced := false
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			fenced = !fenced
		}
		if fenced {
			continue
		}
		if m := headingRE.FindStringSubmatch(line); m != nil {
			out = append(out, docHeading{anchor: githubAnchor(m[1])})
			continue
		}
		if n := len(out); n > 0 && out[n-1].status == "" && strings.TrimSpace(line) != "" {
			out[n-1].status, _, _ = strings.Cut(strings.TrimSpace(line), ".")
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read docs/problems.md: %v", err)
	}
	return out
}

// githubAnchor is the fragment GitHub gives a Markdown heading: lowercase, punctuation other
// than hyphens and underscores dropped, spaces to hyphens.
func githubAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

func TestEveryTypeIsDocumented(t *testing.T) {
	t.Parallel()
	docs := readDocs(t)
	byAnchor := map[string]docHeading{}
	for _, h := range docs {
		if _, dup := byAnchor[h.anchor]; dup {
			t.Errorf("docs/problems.md: heading #%s appears twice", h.anchor)
		}
		byAnchor[h.anchor] = h
	}
	inCatalogue := map[string]bool{}
	for _, tp := range problem.Types() {
		inCatalogue[tp.Anchor()] = true
		h, ok := byAnchor[tp.Anchor()]
		if !ok {
			t.Errorf("type %s: no heading #%s in docs/problems.md", tp.URI(), tp.Anchor())
			continue
		}
		exact, class := strconv.Itoa(tp.Status()), strconv.Itoa(tp.Status()/100)+"xx"
		if h.status != exact && h.status != class {
			t.Errorf("docs/problems.md #%s starts with %q, want the status %s (or %s)", tp.Anchor(), h.status, exact, class)
		}
		if want := topology.ProblemBase + tp.Anchor(); tp.URI() != want {
			t.Errorf("type URI %q, want %q", tp.URI(), want)
		}
		if u, err := url.Parse(tp.URI()); err != nil || !u.IsAbs() || u.Fragment != tp.Anchor() {
			t.Errorf("type URI %q is not an absolute URI with fragment %q", tp.URI(), tp.Anchor())
		}
		if tp.Title() == "" || tp.DefaultDetail() == "" {
			t.Errorf("type %s: empty title or default detail", tp.Anchor())
		}
	}
	for _, h := range docs {
		if !inCatalogue[h.anchor] {
			t.Errorf("docs/problems.md documents #%s, which is not in problem.Types()", h.anchor)
		}
	}
}

func TestCatalogueHasNoRepeats(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, tp := range problem.Types() {
		if seen[tp.Anchor()] {
			t.Errorf("anchor %q twice in the catalogue", tp.Anchor())
		}
		seen[tp.Anchor()] = true
		if got, ok := problem.Lookup(tp.URI()); !ok || got != tp {
			t.Errorf("Lookup(%q) = %v, %v", tp.URI(), got, ok)
		}
	}
	if _, ok := problem.Lookup(topology.ProblemBase + "nope"); ok {
		t.Error("Lookup found a type that is not in the catalogue")
	}
}

// The gateway's problem bodies (topology.GatewayResponses) and the catalogue agree.
func TestGatewayResponsesAreCatalogueTypes(t *testing.T) {
	t.Parallel()
	for _, g := range topology.GatewayResponses {
		tp, ok := problem.Lookup(g.Problem)
		if !ok {
			t.Errorf("gateway response %s: problem %s is not in the catalogue", g.Type, g.Problem)
			continue
		}
		if tp.Title() != g.Title {
			t.Errorf("gateway response %s: title %q, catalogue %q", g.Type, g.Title, tp.Title())
		}
		if g.Status != 0 && g.Status != tp.Status() {
			t.Errorf("gateway response %s: status %d, catalogue %d", g.Type, g.Status, tp.Status())
		}
		if g.Status == 0 && tp.Status()/100 != map[string]int{"DEFAULT_4XX": 4, "DEFAULT_5XX": 5}[g.Type] {
			t.Errorf("gateway response %s: catalogue status %d is of another class", g.Type, tp.Status())
		}
	}
}

// decodeBody checks a response is a problem+json document and returns its members.
func decodeBody(t *testing.T, status int, headers map[string]string, body string) map[string]any {
	t.Helper()
	if headers["Content-Type"] != problem.ContentType {
		t.Errorf("Content-Type %q, want %q", headers["Content-Type"], problem.ContentType)
	}
	if headers["Cache-Control"] != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", headers["Cache-Control"])
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("body is not a JSON object: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		t.Fatalf("trailing data after the problem object")
	}
	allowed := []string{"type", "title", "status", "detail", "instance", "errors", "deniedScopes"}
	for k := range m {
		if !slices.Contains(allowed, k) {
			t.Errorf("unexpected member %q", k)
		}
	}
	typ, _ := m["type"].(string)
	if u, err := url.Parse(typ); err != nil || !u.IsAbs() {
		t.Errorf("type %q is not an absolute URI", typ)
	}
	if title, _ := m["title"].(string); title == "" {
		t.Error("no title")
	}
	if n, _ := m["status"].(json.Number); n.String() != strconv.Itoa(status) {
		t.Errorf("status member %v, response status %d", m["status"], status)
	}
	if d, ok := m["detail"]; ok {
		if s, _ := d.(string); s == "" {
			t.Errorf("detail %v is not a non-empty string", d)
		}
	}
	return m
}

func TestResponseRendersEveryType(t *testing.T) {
	t.Parallel()
	for _, tp := range problem.Types() {
		t.Run(tp.Anchor(), func(t *testing.T) {
			t.Parallel()
			resp := problem.Response(problem.From(tp.New("")))
			if resp.StatusCode != tp.Status() {
				t.Fatalf("status %d, want %d", resp.StatusCode, tp.Status())
			}
			m := decodeBody(t, resp.StatusCode, resp.Headers, resp.Body)
			if m["type"] != tp.URI() || m["title"] != tp.Title() || m["detail"] != tp.DefaultDetail() {
				t.Errorf("body %s", resp.Body)
			}
		})
	}
}

func TestNewKeepsDetailExceptFixedTypes(t *testing.T) {
	t.Parallel()
	if got := problem.From(problem.NotFound.New("No partner p-1.")).Detail; got != "No partner p-1." {
		t.Errorf("not-found detail %q", got)
	}
	if got := problem.From(problem.Conflict.Newf("Partner %s exists.", "p-1")).Detail; got != "Partner p-1 exists." {
		t.Errorf("conflict detail %q", got)
	}
	for _, tp := range []problem.Type{problem.InviteInvalid, problem.Internal} {
		if got := problem.From(tp.New("the invite expired yesterday")).Detail; got != tp.DefaultDetail() {
			t.Errorf("%s detail %q, want the fixed %q", tp.Anchor(), got, tp.DefaultDetail())
		}
	}
}

// One answer for an unknown, a used and an expired invite: byte for byte the same body.
func TestInviteInvalidTellsNothing(t *testing.T) {
	t.Parallel()
	var bodies []string
	for _, why := range []string{"no such invite", "invite used at 12:00", "invite expired at 12:00"} {
		err := fmt.Errorf("onboard: %w", problem.InviteInvalid.New(why).WithCause(errors.New(why)))
		resp := problem.Response(problem.From(err))
		if resp.StatusCode != 403 {
			t.Errorf("status %d", resp.StatusCode)
		}
		bodies = append(bodies, resp.Body)
		if !strings.Contains(err.Error(), why) {
			t.Errorf("the log line %q lost the cause %q", err.Error(), why)
		}
	}
	if bodies[0] != bodies[1] || bodies[1] != bodies[2] {
		t.Errorf("bodies differ:\n%s", strings.Join(bodies, "\n"))
	}
}

func TestFrom(t *testing.T) {
	t.Parallel()
	nf := problem.NotFound.New("No such partner.")
	tests := []struct {
		name string
		err  error
		want problem.Type
	}{
		{"nil", nil, problem.Internal},
		{"plain error", errors.New("dynamodb: ResourceNotFoundException"), problem.Internal},
		{"public", nf, problem.NotFound},
		{"wrapped public", fmt.Errorf("get partner p-1: %w", nf), problem.NotFound},
		{"public with cause", fmt.Errorf("get: %w", nf.WithCause(errors.New("no item"))), problem.NotFound},
		{"joined", errors.Join(errors.New("boom"), nf), problem.NotFound},
		{"typed nil", (*problem.Error)(nil), problem.Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := problem.From(tt.err)
			if p.Type != tt.want.URI() || p.Status != tt.want.Status() || p.Title != tt.want.Title() {
				t.Errorf("From = %+v, want type %s", p, tt.want.Anchor())
			}
			got, ok := problem.Of(tt.err)
			if ok != (tt.want != problem.Internal) || ok && got != tt.want {
				t.Errorf("Of = %v, %v", got.Anchor(), ok)
			}
		})
	}
}

func TestErrorUnwrapsToCause(t *testing.T) {
	t.Parallel()
	cause := errors.New("conditional check failed")
	err := fmt.Errorf("create partner: %w", problem.Conflict.New("The partner exists.").WithCause(cause))
	if !errors.Is(err, cause) {
		t.Error("errors.Is does not reach the cause")
	}
	var pe *problem.Error
	if !errors.As(err, &pe) || pe.Type() != problem.Conflict {
		t.Fatalf("errors.As: %v", pe)
	}
	want := "create partner: conflict (409): The partner exists.: conditional check failed"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

func TestWithCopies(t *testing.T) {
	t.Parallel()
	base := problem.NotFound.New("")
	withInstance := base.WithInstance("/v1/partners/p-1")
	_ = base.WithCause(errors.New("x"))
	if base.Problem().Instance != "" || errors.Unwrap(base) != nil {
		t.Error("With… changed the original")
	}
	if got := problem.From(withInstance).Instance; got != "/v1/partners/p-1" {
		t.Errorf("instance %q", got)
	}
	p := problem.NewValidation(problem.FieldError{Pointer: "/a", Message: "is required"})
	got := p.Problem()
	got.Errors[0].Message = "changed"
	if p.Problem().Errors[0].Message != "is required" {
		t.Error("Problem() shares its errors slice")
	}
}

func TestNewValidation(t *testing.T) {
	t.Parallel()
	e := problem.NewValidation(
		problem.FieldError{Pointer: "/scopes/1", Message: "must be a scope"},
		problem.FieldError{Pointer: "/partnerName", Message: "is required"},
		problem.FieldError{Pointer: "/partnerName", Message: "is required"},
		problem.FieldError{Pointer: "not a pointer", Message: "bad\ncontrol"},
		problem.FieldError{Pointer: "/x/" + strings.Repeat("y", 300), Message: strings.Repeat("m", 300)},
	)
	p := problem.From(e)
	want := []problem.FieldError{
		{Pointer: "", Message: "bad control"},
		{Pointer: "/partnerName", Message: "is required"},
		{Pointer: "/scopes/1", Message: "must be a scope"},
		{Pointer: "/x", Message: strings.Repeat("m", 200) + "…"},
	}
	if !slices.Equal(p.Errors, want) {
		t.Errorf("errors %+v\nwant %+v", p.Errors, want)
	}
	if !strings.Contains(p.Detail, "4 fields") {
		t.Errorf("detail %q", p.Detail)
	}
	if got := e.Error(); !strings.Contains(got, "/partnerName: is required; /scopes/1: must be a scope") {
		t.Errorf("Error() = %q", got)
	}

	var many []problem.FieldError
	for i := range 30 {
		many = append(many, problem.FieldError{Pointer: fmt.Sprintf("/f%02d", i), Message: "is required"})
	}
	p = problem.From(problem.NewValidation(many...))
	if len(p.Errors) != problem.MaxFieldErrors || !strings.Contains(p.Detail, "30 fields") {
		t.Errorf("%d errors, detail %q", len(p.Errors), p.Detail)
	}
}

func TestNewScopesNotAllowed(t *testing.T) {
	t.Parallel()
	p := problem.From(problem.NewScopesNotAllowed("sandbox",
		[]string{"webhooks:write", "orders:write", "orders:write", "Not A Scope", strings.Repeat("a", 70) + ":b"}))
	if !slices.Equal(p.DeniedScopes, []string{"orders:write", "webhooks:write"}) {
		t.Errorf("denied %q", p.DeniedScopes)
	}
	if p.Status != 403 || !strings.Contains(p.Detail, "tier sandbox") {
		t.Errorf("%+v", p)
	}
	p = problem.From(problem.NewScopesNotAllowed("<script>", []string{"orders:write"}))
	if p.Detail != problem.ScopesNotAllowed.DefaultDetail() {
		t.Errorf("a malformed tier name reached the detail: %q", p.Detail)
	}
}

// Response renders only what the catalogue allows, whatever Problem it is handed.
func TestResponseNormalizes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		in         problem.Problem
		wantType   problem.Type
		wantStatus int
		check      func(t *testing.T, m map[string]any)
	}{
		{"unknown type", problem.Problem{Type: "about:blank", Status: 400, Detail: "x"}, problem.Internal, 500, nil},
		{"2xx status", problem.Problem{Type: problem.NotFound.URI(), Status: 200}, problem.Internal, 500, nil},
		{"no status", problem.Problem{Type: problem.NotFound.URI()}, problem.NotFound, 404, nil},
		{"wrong status", problem.Problem{Type: problem.NotFound.URI(), Status: 410}, problem.NotFound, 404, nil},
		{"5xx of a 4xx type", problem.Problem{Type: problem.NotFound.URI(), Status: 503, Detail: "x"}, problem.Internal, 503, nil},
		{"internal 4xx", problem.Problem{Type: problem.Internal.URI(), Status: 404}, problem.Internal, 500, nil},
		{"bad request keeps its 4xx", problem.Problem{Type: problem.BadRequest.URI(), Status: 413}, problem.BadRequest, 413, nil},
		{"internal keeps its 5xx", problem.Problem{Type: problem.Internal.URI(), Status: 502}, problem.Internal, 502, nil},
		{"errors on another type", problem.Problem{Type: problem.NotFound.URI(), Errors: []problem.FieldError{{Pointer: "/a", Message: "m"}}, DeniedScopes: []string{"a:b"}},
			problem.NotFound, 404, func(t *testing.T, m map[string]any) {
				if m["errors"] != nil || m["deniedScopes"] != nil {
					t.Errorf("extension members kept: %v", m)
				}
			}},
		{"wrong title", problem.Problem{Type: problem.Conflict.URI(), Title: "Oops"}, problem.Conflict, 409, func(t *testing.T, m map[string]any) {
			if m["title"] != problem.Conflict.Title() {
				t.Errorf("title %v", m["title"])
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			resp := problem.Response(tt.in)
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			m := decodeBody(t, resp.StatusCode, resp.Headers, resp.Body)
			if m["type"] != tt.wantType.URI() {
				t.Errorf("type %v, want %s", m["type"], tt.wantType.URI())
			}
			if tt.wantType == problem.Internal && m["detail"] != problem.Internal.DefaultDetail() {
				t.Errorf("internal detail %v", m["detail"])
			}
			if tt.check != nil {
				tt.check(t, m)
			}
		})
	}
}

// No internal error string, however it travels, reaches a response body.
func TestInternalErrorNeverReachesTheClient(t *testing.T) {
	c := secrettest.Plant(t)
	v := c.New("db-password")
	internal := fmt.Errorf("connect to registry with %s: %w", v.Reveal(), io.ErrUnexpectedEOF)

	cases := map[string]problem.Problem{
		"plain internal error":          problem.From(internal),
		"wrapped internal error":        problem.From(fmt.Errorf("onboard p-1: %w", internal)),
		"public problem with cause":     problem.From(problem.InviteInvalid.New("").WithCause(internal)),
		"conflict with cause":           problem.From(problem.Conflict.New("").WithCause(internal)),
		"internal detail by hand":       {Type: problem.Internal.URI(), Status: 500, Detail: internal.Error()},
		"fixed detail by hand":          {Type: problem.InviteInvalid.URI(), Status: 403, Detail: internal.Error()},
		"5xx detail by hand":            {Type: problem.NotFound.URI(), Status: 503, Detail: internal.Error()},
		"unknown type":                  {Type: "about:blank", Status: 400, Detail: internal.Error()},
		"errors on another type":        {Type: problem.Conflict.URI(), Status: 409, Errors: []problem.FieldError{{Pointer: "/a", Message: internal.Error()}}},
		"internal made by New":          problem.From(problem.Internal.New(internal.Error())),
		"denied scope that is no scope": problem.From(problem.NewScopesNotAllowed("sandbox", []string{v.Reveal()})),
	}
	for name, p := range cases {
		resp := problem.Response(p)
		c.CheckText("response body: "+name, resp.Body)
		for k, h := range resp.Headers {
			c.CheckText("response header "+k+": "+name, h)
		}
	}
}
