// Package partnersecret is the one rule for a partner's key secret in Secrets Manager: its name
// ("<base>/partners/<partner id>", and "<base>/partners/<partner id>/g<n>" for the n-th
// generation a replacement after a compromise starts), the tag that names its partner, and the staging labels its
// versions move through. Onboarding names and tags the secret it creates; rotation finds the
// partner of a secret by its tag, else its name; rotation's on-demand start and the rollover
// check that a secret an item names is the partner's; the topology, infra and local
// provisioning give the functions the name prefix and grant access under it.
package partnersecret

import (
	"strconv"
	"strings"
)

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

// Name is the name of partner partnerID's secret under prefix (a Prefix): its first
// generation, the one onboarding creates.
func Name(prefix, partnerID string) string { return prefix + partnerID }

// GenerationMark separates a partner id from its secret's generation in the names of the
// generations after the first: "<prefix><id>/g<n>". A partner id holds no "/".
const GenerationMark = "/g"

// GenerationName is the name of generation gen of partner partnerID's secret: Name for the
// first (gen 1 or less), "<prefix><id>/g<gen>" after it. A replacement key after a compromise
// lives in a new generation, since Secrets Manager refuses to reuse the name of a secret whose
// deletion is scheduled.
func GenerationName(prefix, partnerID string, gen int) string {
	if gen <= 1 {
		return Name(prefix, partnerID)
	}
	return prefix + partnerID + GenerationMark + strconv.Itoa(gen)
}

// splitGeneration reads "<id>" (generation 1) or "<id>/g<n>" (n ≥ 2, no leading zero); ok is
// false for anything else.
func splitGeneration(rest string) (id string, gen int, ok bool) {
	id, g, marked := strings.Cut(rest, GenerationMark)
	if !marked {
		return rest, 1, rest != "" && !strings.Contains(rest, "/")
	}
	n, err := strconv.Atoi(g)
	if id == "" || strings.Contains(id, "/") || err != nil || n < 2 || strconv.Itoa(n) != g {
		return "", 0, false
	}
	return id, n, true
}

// PartnerOfName is the partner id a secret's name gives after prefix, whatever its
// generation; "" when the name does not start with prefix (or prefix is empty) or names
// nothing after it.
func PartnerOfName(prefix, name string) string {
	id, _ := GenerationOfName(prefix, name)
	return id
}

// GenerationOfName is the partner id and the generation a secret's name gives after prefix;
// "" and 0 when it names no partner secret under prefix.
func GenerationOfName(prefix, name string) (string, int) {
	if prefix == "" {
		return "", 0
	}
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok {
		return "", 0
	}
	id, gen, ok := splitGeneration(rest)
	if !ok {
		return "", 0
	}
	return id, gen
}

// NameOfARN is the secret's name in arn: what follows ":secret:", without the "-" and six
// characters Secrets Manager appends; "" when arn is no secret ARN.
func NameOfARN(arn string) string {
	_, name, ok := strings.Cut(arn, ":secret:")
	if !ok || len(name) < 8 || name[len(name)-7] != '-' {
		return ""
	}
	return name[:len(name)-7]
}

// UnderPrefix reports whether the secret arn is named under prefix: a partner secret.
func UnderPrefix(arn, prefix string) bool {
	_, name, _ := strings.Cut(arn, ":secret:")
	return strings.HasPrefix(name, prefix)
}

// IsPartners reports whether the secret arn is partner partnerID's under prefix, of any
// generation: its name is GenerationName(prefix, partnerID, n), followed in the ARN by the "-"
// and six characters Secrets Manager appends.
func IsPartners(arn, prefix, partnerID string) bool {
	id, _ := GenerationOfName(prefix, NameOfARN(arn))
	return id != "" && id == partnerID
}
