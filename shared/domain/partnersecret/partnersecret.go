// Package partnersecret is the one rule for a partner's key secret in Secrets Manager: its name
// ("<base>/partners/<partner id>"), the tag that names its partner, and the staging labels its
// versions move through. Onboarding names and tags the secret it creates; rotation finds the
// partner of a secret by its tag, else its name; rotation's on-demand start and the rollover
// check that a secret an item names is the partner's; the topology, infra and local
// provisioning give the functions the name prefix and grant access under it.
package partnersecret

import "strings"

// Path follows a deployment's base in every partner secret's name: "<base>/partners/<id>".
const Path = "partners/"

// Tag is the tag every partner secret carries, valued with the partner id.
const Tag = "lanyard:partner"

// The staging labels of a partner secret's versions: the current key, the key a rotation is
// putting in place, and the key it replaced.
const (
	StageCurrent  = "AWSCURRENT"
	StagePending  = "AWSPENDING"
	StagePrevious = "AWSPREVIOUS"
)

// Prefix is the name prefix of the partner secrets of the deployment whose base is base
// ("lanyard" in AWS, the local prefix locally): base + "/" + Path.
func Prefix(base string) string { return base + "/" + Path }

// Name is the name of partner partnerID's secret under prefix (a Prefix).
func Name(prefix, partnerID string) string { return prefix + partnerID }

// PartnerOfName is the partner id a secret's name gives after prefix; "" when the name does
// not start with prefix (or prefix is empty) or names nothing after it.
func PartnerOfName(prefix, name string) string {
	if prefix == "" {
		return ""
	}
	id, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return ""
	}
	return id
}

// UnderPrefix reports whether the secret arn is named under prefix: a partner secret.
func UnderPrefix(arn, prefix string) bool {
	_, name, _ := strings.Cut(arn, ":secret:")
	return strings.HasPrefix(name, prefix)
}

// IsPartners reports whether the secret arn is partner partnerID's under prefix: its name is
// Name(prefix, partnerID), followed in the ARN by the "-" Secrets Manager appends.
func IsPartners(arn, prefix, partnerID string) bool {
	return strings.Contains(arn, ":secret:"+Name(prefix, partnerID)+"-")
}
