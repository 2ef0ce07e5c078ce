package iamarn_test

import (
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/platform/iamarn"
)

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		arn, kind, name, err string
	}{
		{"arn:aws:iam::111122223333:root", iamarn.KindRoot, "", ""},
		{"arn:aws:iam::111122223333:user/billing", iamarn.KindUser, "billing", ""},
		{"arn:aws:iam::111122223333:role/billing-api", iamarn.KindRole, "billing-api", ""},
		{"arn:aws:iam::111122223333:role/service/billing-api", iamarn.KindRole, "billing-api", ""},
		{"arn:aws-cn:iam::111122223333:role/a", iamarn.KindRole, "a", ""},
		{"arn:aws:iam::111122223333:role/*", "", "", "no wildcards"},
		{"arn:aws:iam::111122223333:role/billing*", "", "", "no wildcards"},
		{"arn:aws:iam::*:role/billing", "", "", "not 12 digits"},
		{"arn:aws:iam::11112222333:role/billing", "", "", "not 12 digits"},
		{"arn:aws:sts::111122223333:assumed-role/billing/s", "", "", "not an IAM ARN"},
		{"arn:aws:iam::111122223333:group/ops", "", "", "not root, a user or a role"},
		{"arn:aws:iam::111122223333:role/", "", "", "no wildcards"},
		{"billing", "", "", "not an IAM ARN"},
		{"*", "", "", "not an IAM ARN"},
		{"arn:evil:iam::111122223333:root", "", "", "partition"},
	} {
		t.Run(tc.arn, func(t *testing.T) {
			t.Parallel()
			p, err := iamarn.Parse(tc.arn)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: %v, want an error saying %q", err, tc.err)
				}
				return
			}
			if err != nil || p.Kind != tc.kind || p.Name != tc.name || p.Account != "111122223333" {
				t.Fatalf("Parse = %+v, %v; want kind %s, name %q", p, err, tc.kind, tc.name)
			}
		})
	}
}

func TestAdmits(t *testing.T) {
	t.Parallel()
	principals, err := iamarn.ParseAll([]string{
		"arn:aws:iam::111122223333:role/service/billing-api",
		"arn:aws:iam::111122223333:user/auditor",
		"arn:aws:iam::444455556666:root",
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		caller string
		want   bool
	}{
		{"arn:aws:sts::111122223333:assumed-role/billing-api/i-0abc", true},
		{"arn:aws:iam::111122223333:user/auditor", true},
		{"arn:aws:iam::444455556666:root", true},
		// Another role, another account, another partition, a name that only starts alike.
		{"arn:aws:sts::111122223333:assumed-role/billing-api-2/s", false},
		{"arn:aws:sts::999999999999:assumed-role/billing-api/s", false},
		{"arn:aws-cn:sts::111122223333:assumed-role/billing-api/s", false},
		{"arn:aws:sts::111122223333:assumed-role/billing-api/", false},
		{"arn:aws:sts::111122223333:assumed-role/billing-api/s/x", false},
		// The role's own ARN is never a caller; nor a user of the same name elsewhere.
		{"arn:aws:iam::111122223333:role/service/billing-api", false},
		{"arn:aws:iam::111122223333:user/other/auditor", false},
		{"arn:aws:iam::111122223333:root", false},
		{"arn:aws:iam::444455556666:user/anyone", false},
		{"", false},
	} {
		if got := iamarn.AnyAdmits(principals, tc.caller); got != tc.want {
			t.Errorf("AnyAdmits(%q) = %v, want %v", tc.caller, got, tc.want)
		}
	}
	if _, err := iamarn.ParseAll([]string{"x", "arn:aws:iam::111122223333:root", "y"}); err == nil || strings.Count(err.Error(), "principal") != 2 {
		t.Errorf("ParseAll names each bad principal: %v", err)
	}
}
