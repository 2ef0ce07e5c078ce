package infra

import (
	"encoding/json"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/topology"
)

// renderProblem evaluates the small VTL subset problemTemplate writes (#set of a single-quoted
// literal or a number, an #if/#elseif chain on $context.error.responseType, references) the
// way API Gateway would for a gateway response of responseType with message.
func renderProblem(t *testing.T, tpl, responseType, message string) string {
	t.Helper()
	setRE := regexp.MustCompile(`^#set\(\$(\w+) = (?:'([^']*)'|(\d+))\)$`)
	branchRE := regexp.MustCompile(`^#(?:if|elseif)\(\$context\.error\.responseType == "(\w+)"\)#set\(\$(\w+) = (\d+)\)$`)
	vars := map[string]string{}
	matched := false
	var out strings.Builder
	for _, line := range strings.Split(tpl, "\n") {
		switch {
		case setRE.MatchString(line):
			m := setRE.FindStringSubmatch(line)
			vars[m[1]] = m[2] + m[3]
		case branchRE.MatchString(line):
			m := branchRE.FindStringSubmatch(line)
			if !matched && m[1] == responseType {
				vars[m[2]], matched = m[3], true
			}
		case line == "#end":
		case strings.HasPrefix(line, "#"):
			t.Fatalf("directive outside the subset: %q", line)
		default:
			quoted, _ := json.Marshal(message)
			line = strings.ReplaceAll(line, "$context.error.messageString", string(quoted))
			names := make([]string, 0, len(vars))
			for n := range vars {
				names = append(names, n)
			}
			sort.Slice(names, func(i, j int) bool { return len(names[i]) > len(names[j]) })
			for _, n := range names {
				line = strings.ReplaceAll(line, "$"+n, vars[n])
			}
			out.WriteString(line)
		}
	}
	return out.String()
}

type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

func TestGatewayResponseBodiesAreProblems(t *testing.T) {
	byType := map[string]topology.GatewayResponse{}
	for _, g := range topology.GatewayResponses {
		byType[g.Type] = g
	}
	odd := topology.GatewayResponse{Type: "ACCESS_DENIED", Status: 403, Title: `It's "$denied" #here`, Problem: topology.ProblemBase + "odd#set($x = 1)"}
	cases := []struct {
		decl         topology.GatewayResponse
		occurred     string // $context.error.responseType
		wantStatus   int
		wantTitle    string
		wantTypeFrag string
	}{
		{byType["UNAUTHORIZED"], "UNAUTHORIZED", 401, "Unauthorized", "#unauthorized"},
		{byType["ACCESS_DENIED"], "ACCESS_DENIED", 403, "User is not authorized to access this resource", "#access-denied"},
		{byType["MISSING_AUTHENTICATION_TOKEN"], "MISSING_AUTHENTICATION_TOKEN", 403, "Missing Authentication Token", "#missing-authentication-token"},
		{byType["THROTTLED"], "THROTTLED", 429, "Too Many Requests", "#throttled"},
		{byType["DEFAULT_4XX"], "RESOURCE_NOT_FOUND", 404, "Bad Request", "#bad-request"},
		{byType["DEFAULT_4XX"], "BAD_REQUEST_BODY", 400, "Bad Request", "#bad-request"},
		{byType["DEFAULT_4XX"], "REQUEST_TOO_LARGE", 413, "Bad Request", "#bad-request"},
		{byType["DEFAULT_4XX"], "A_TYPE_NOT_YET_INVENTED", 400, "Bad Request", "#bad-request"},
		{byType["DEFAULT_5XX"], "INTEGRATION_TIMEOUT", 504, "Internal Server Error", "#internal"},
		{byType["DEFAULT_5XX"], "AUTHORIZER_FAILURE", 500, "Internal Server Error", "#internal"},
		{byType["DEFAULT_5XX"], "A_TYPE_NOT_YET_INVENTED", 500, "Internal Server Error", "#internal"},
		{odd, "ACCESS_DENIED", 403, odd.Title, "odd#set($x = 1)"},
	}
	for _, tc := range cases {
		t.Run(tc.decl.Type+"/"+tc.occurred, func(t *testing.T) {
			const message = `Said "no" to $you`
			body := renderProblem(t, problemTemplate(tc.decl), tc.occurred, message)
			var p problem
			if err := json.Unmarshal([]byte(body), &p); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, body)
			}
			want := problem{Type: tc.decl.Problem, Title: tc.wantTitle, Status: tc.wantStatus, Detail: message}
			if p != want || !strings.HasSuffix(p.Type, tc.wantTypeFrag) {
				t.Errorf("got %+v, want %+v", p, want)
			}
		})
	}
}
