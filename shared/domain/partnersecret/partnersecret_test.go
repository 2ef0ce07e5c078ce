package partnersecret_test

import (
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
)

// The rule as it stands: every deployment's secrets, every user of them, depend on it.
func TestTheRule(t *testing.T) {
	t.Parallel()
	const id = "p-abcdefghijklmnopqrstuvwxyz"
	if partnersecret.Tag != "lanyard:partner" || partnersecret.Path != "partners/" {
		t.Errorf("tag %q, path %q", partnersecret.Tag, partnersecret.Path)
	}
	if partnersecret.StageCurrent != "AWSCURRENT" || partnersecret.StagePending != "AWSPENDING" || partnersecret.StagePrevious != "AWSPREVIOUS" {
		t.Error("the staging labels are Secrets Manager's")
	}
	for _, tt := range []struct{ base, prefix, name string }{
		{"lanyard", "lanyard/partners/", "lanyard/partners/" + id},
		{"lanyard-local-x1", "lanyard-local-x1/partners/", "lanyard-local-x1/partners/" + id},
	} {
		prefix := partnersecret.Prefix(tt.base)
		if prefix != tt.prefix {
			t.Errorf("Prefix(%q) = %q, want %q", tt.base, prefix, tt.prefix)
		}
		name := partnersecret.Name(prefix, id)
		if name != tt.name {
			t.Errorf("Name = %q, want %q", name, tt.name)
		}
		if got := partnersecret.PartnerOfName(prefix, name); got != id {
			t.Errorf("PartnerOfName(%q) = %q", name, got)
		}
		arn := "arn:aws:secretsmanager:eu-west-1:123456789012:secret:" + name + "-AbCdEf"
		if !partnersecret.UnderPrefix(arn, prefix) || !partnersecret.IsPartners(arn, prefix, id) {
			t.Errorf("%s is not recognised as %s's secret", arn, id)
		}
	}
	for _, tt := range []struct{ prefix, name string }{
		{"", "lanyard/partners/" + id}, {"lanyard/partners/", "other/" + id}, {"lanyard/partners/", "lanyard/partners"},
	} {
		if got := partnersecret.PartnerOfName(tt.prefix, tt.name); got != "" {
			t.Errorf("PartnerOfName(%q, %q) = %q, want none", tt.prefix, tt.name, got)
		}
	}
	const other = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partners/" + id + "x-AbCdEf"
	for _, tt := range []struct {
		arn        string
		under, its bool
	}{
		{other, true, false},
		{"arn:aws:secretsmanager:eu-west-1:123456789012:secret:elsewhere/" + id + "-AbCdEf", false, false},
		{"lanyard/partners/" + id, false, false},
	} {
		if partnersecret.UnderPrefix(tt.arn, "lanyard/partners/") != tt.under || partnersecret.IsPartners(tt.arn, "lanyard/partners/", id) != tt.its {
			t.Errorf("%s: under %v, partner's %v", tt.arn, partnersecret.UnderPrefix(tt.arn, "lanyard/partners/"), partnersecret.IsPartners(tt.arn, "lanyard/partners/", id))
		}
	}
}
