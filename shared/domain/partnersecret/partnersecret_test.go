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

// Every generation of a partner's secret is the partner's, and no other partner's; the first
// keeps the name onboarding has always given.
func TestGenerations(t *testing.T) {
	t.Parallel()
	const (
		prefix = "lanyard/partners/"
		id     = "p-abcdefghijklmnopqrstuvwxyz"
		suffix = "-AbCdEf"
		arn    = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:"
	)
	for _, tt := range []struct {
		gen  int
		name string
	}{
		{0, prefix + id}, {1, prefix + id}, {2, prefix + id + "/g2"}, {12, prefix + id + "/g12"},
	} {
		name := partnersecret.GenerationName(prefix, id, tt.gen)
		if name != tt.name {
			t.Errorf("GenerationName(%d) = %q, want %q", tt.gen, name, tt.name)
		}
		wantGen := max(tt.gen, 1)
		if got, gen := partnersecret.GenerationOfName(prefix, name); got != id || gen != wantGen {
			t.Errorf("GenerationOfName(%q) = %q, %d", name, got, gen)
		}
		if got := partnersecret.PartnerOfName(prefix, name); got != id {
			t.Errorf("PartnerOfName(%q) = %q", name, got)
		}
		if got := partnersecret.NameOfARN(arn + name + suffix); got != name {
			t.Errorf("NameOfARN = %q, want %q", got, name)
		}
		if !partnersecret.IsPartners(arn+name+suffix, prefix, id) || !partnersecret.UnderPrefix(arn+name+suffix, prefix) {
			t.Errorf("%s is not recognised as %s's secret", name, id)
		}
		if partnersecret.IsPartners(arn+name+suffix, prefix, id[:len(id)-1]+"a") {
			t.Errorf("%s is recognised as another partner's secret", name)
		}
	}
	for _, name := range []string{
		prefix + id + "/g1", prefix + id + "/g02", prefix + id + "/g", prefix + id + "/gx", prefix + id + "/g2/g3",
		prefix + id + "/x", prefix + "/g2", prefix,
	} {
		if got, gen := partnersecret.GenerationOfName(prefix, name); got != "" || gen != 0 {
			t.Errorf("GenerationOfName(%q) = %q, %d, want none", name, got, gen)
		}
		if partnersecret.IsPartners(arn+name+suffix, prefix, id) {
			t.Errorf("IsPartners(%q) holds", name)
		}
	}
	for _, a := range []string{"", "lanyard/partners/" + id, arn + "short"} {
		if got := partnersecret.NameOfARN(a); got != "" {
			t.Errorf("NameOfARN(%q) = %q, want none", a, got)
		}
	}
}
