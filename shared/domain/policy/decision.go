package policy

import (
	"slices"
	"strconv"
	"strings"
)

// Decision is the outcome of checking the scopes a partner requests against a tier, with the
// justification the onboarding record carries. Every list is sorted and free of duplicates,
// so the same request against the same tier always yields the same Decision.
type Decision struct {
	Tier    string
	Allowed bool
	// Requested is the request, sorted and de-duplicated.
	Requested []string
	// Denied are the requested scopes outside the tier's allowance; nil when none.
	Denied []string
	// Allowance is the tier's allowance, sorted.
	Allowance []string
	// Justification says why, in one line, one of
	//   scopes [orders:read] within tier standard allowance [orders:read orders:write]
	//   scopes [webhooks:write] outside tier standard allowance [orders:read orders:write]
	//   no scopes requested; tier standard allowance [orders:read orders:write]
	// Policy.Decide appends " (policy revision N)". Scopes that are not well formed (they
	// come from a request) are quoted.
	Justification string
	// PolicyRevision and PolicyDigest identify the policy, when decided by Policy.Decide.
	PolicyRevision int
	PolicyDigest   string
}

// maxListed bounds how many requested scopes a justification names, so a hostile request
// cannot make the record grow without bound; the rest are counted. The allowance comes from
// the policy and is always listed whole.
const maxListed = 20

// Allows reports whether the requested scopes are a subset of the tier's allowance, and the
// requested scopes that are not (sorted, de-duplicated). A request naming no scope is not
// allowed: a key that can do nothing is a client's mistake, not a least-privilege choice.
func (t Tier) Allows(requested []string) (ok bool, denied []string) {
	d := t.Decide(requested)
	return d.Allowed, d.Denied
}

// Decide checks the requested scopes against the tier's allowance (see Allows) and explains
// the outcome. Repeated scopes in the request count once.
func (t Tier) Decide(requested []string) Decision {
	d := Decision{Tier: t.Name, Requested: normalize(requested), Allowance: normalize(t.Scopes)}
	for _, s := range d.Requested {
		if _, found := slices.BinarySearch(d.Allowance, s); !found {
			d.Denied = append(d.Denied, s)
		}
	}
	tier, allowance := renderScope(t.Name), renderList(d.Allowance, len(d.Allowance))
	switch {
	case len(d.Requested) == 0:
		d.Justification = "no scopes requested; tier " + tier + " allowance " + allowance
	case len(d.Denied) > 0:
		d.Justification = "scopes " + renderList(d.Denied, maxListed) + " outside tier " + tier +
			" allowance " + allowance
	default:
		d.Allowed = true
		d.Justification = "scopes " + renderList(d.Requested, maxListed) + " within tier " + tier +
			" allowance " + allowance
	}
	return d
}

// normalize returns a sorted copy of scopes without duplicates; never nil.
func normalize(scopes []string) []string {
	out := slices.Clone(scopes)
	slices.Sort(out)
	out = slices.Compact(out)
	if out == nil {
		out = []string{}
	}
	return out
}

// renderList writes scopes as "[a b c]", at most limit of them.
func renderList(scopes []string, limit int) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, s := range scopes {
		if i == limit {
			b.WriteString(" …+" + itoa(len(scopes)-limit))
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(renderScope(s))
	}
	b.WriteByte(']')
	return b.String()
}

// renderScope writes a well-formed scope or tier name as it is, and anything else (it came
// from a request) quoted and cut short, so a record never carries raw control characters or
// unbounded text.
func renderScope(s string) string {
	if (scopeRE.MatchString(s) && len(s) <= maxScopeLen) || tierNameRE.MatchString(s) {
		return s
	}
	const maxQuoted = 64
	if len(s) > maxQuoted {
		s = strings.ToValidUTF8(s[:maxQuoted], "") + "…"
	}
	return strconv.Quote(s)
}

func itoa(n int) string { return strconv.Itoa(n) }
