package iamtest_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/fakes/iamtest"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// IAM's rules for the statements Lanyard writes: a Deny holds when every condition key matches
// one of its values (StringEquals; DateLessThan strictly before); an Allow denies nothing; a
// request without the key fails the condition. No LocalStack evaluates IAM, so these cases
// are written from IAM's documentation of condition operators.
func TestDenied(t *testing.T) {
	t.Parallel()
	const partnerDeny = `{"Version":"2012-10-17","Statement":[{"Sid":"A","Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringEquals":{"aws:PrincipalTag/partner":["p-1","p-2"]},"DateLessThan":{"aws:TokenIssueTime":"2026-11-23T12:01:00Z"}}}]}`
	const roleWide = `{"Version":"2012-10-17","Statement":[{"Sid":"B","Effect":"Deny","Action":"*","Resource":"*","Condition":{"DateLessThan":{"aws:TokenIssueTime":"2026-11-23T12:00:00Z"}}}]}`
	const allow = `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}`
	req := func(partner string, at time.Time) iamtest.Request {
		r := iamtest.Request{Strings: map[string]string{}, Dates: map[string]time.Time{"aws:TokenIssueTime": at}}
		if partner != "" {
			r.Strings["aws:PrincipalTag/partner"] = partner
		}
		return r
	}
	tests := []struct {
		name string
		docs []string
		r    iamtest.Request
		want bool
	}{
		{"listed partner, issued before", []string{partnerDeny}, req("p-2", t0), true},
		{"listed partner, issued at the time", []string{partnerDeny}, req("p-2", t0.Add(time.Minute)), false},
		{"another partner", []string{partnerDeny}, req("p-3", t0), false},
		{"no partner tag", []string{partnerDeny}, req("", t0), false},
		{"role-wide, any partner before", []string{partnerDeny, roleWide}, req("p-3", t0.Add(-time.Second)), true},
		{"role-wide, after", []string{roleWide}, req("p-3", t0), false},
		{"an Allow denies nothing", []string{allow}, req("p-1", t0), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := iamtest.Parse(tc.docs)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Denied(tc.r); got != tc.want {
				t.Errorf("denied %v, want %v", got, tc.want)
			}
		})
	}
}

// A shape the evaluator does not know is an error, never a silent miss.
func TestParseRefusesWhatItDoesNotKnow(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"*","Resource":"*","Condition":{"StringLike":{"aws:PrincipalTag/partner":"p-*"}}}]}`,
		`{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":"s3:*","Resource":"*"}]}`,
		`{"Version":"2008-10-17","Statement":[]}`,
		`not json`,
	} {
		if _, err := iamtest.Parse([]string{doc}); err == nil {
			t.Errorf("%s parsed", strings.TrimSpace(doc))
		}
	}
}
