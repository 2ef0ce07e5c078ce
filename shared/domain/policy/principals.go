package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// An allow-list entry admits the AWS principals its patterns name, and no other principal of
// its account. A pattern is matched against the ARN that STS's GetCallerIdentity reports for
// whoever signed an identity proof:
//
//	arn:<partition>:iam::<account>:role/<name>          sessions of the role <name>
//	arn:<partition>:iam::<account>:role/<prefix>*       sessions of every role whose name starts with <prefix>
//	arn:<partition>:iam::<account>:user/<path/><name>   the IAM user <name> at <path/>
//	arn:<partition>:iam::<account>:user/<path/>*        every IAM user under <path/> (a path of at least one segment)
//
// A role session's ARN, arn:<partition>:sts::<account>:assumed-role/<role name>/<session>,
// names the role by its name alone: it carries neither the role's path nor anything the
// session's caller did not choose, so a role pattern matches on the role's name and names no
// path (a pattern such as role/partners/* could not be checked and is refused, never
// half-checked). Role names are unique within an account whatever their path, so a name
// identifies one role. The session name is the caller's choice and is ignored.
//
// Never admitted, whatever the patterns: the account's root user (it is the whole account,
// and an agreed role is what a partner onboards with), federated users of GetFederationToken
// (whose name is the caller's choice), principals of another account or partition. Matching
// is exact and case-sensitive, as IAM spells the names; the only wildcard is one final "*".

// partitions are the AWS partitions a pattern may name.
var partitions = map[string]bool{"aws": true, "aws-cn": true, "aws-us-gov": true}

// principalPattern is the schema's pattern for an allow-list principal (policy.schema.json
// /$defs/principal): an ARN of visible ASCII. parsePrincipal checks the rest, with a message
// for each way a pattern can be wrong.
const principalPattern = `^arn:[!-~]{1,600}$`

var (
	principalRE = regexp.MustCompile(principalPattern)
	// iamName is an IAM role or user name, a prefix of one, or a path segment: IAM's characters.
	iamName = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,64}$`)
)

// principal is a parsed allow-list pattern.
type principal struct {
	partition, account string
	role               bool   // role sessions; else IAM users
	name               string // role: the name or name prefix; user: the path and name, or the path ("partners/") before "*"
	prefix             bool   // name ends in "*"
}

// parsePrincipal parses an allow-list pattern of the entry for accountID, or says what is
// wrong with it.
func parsePrincipal(pattern, accountID string) (principal, error) {
	const usage = "write arn:aws:iam::<account>:role/<name>, …:role/<name prefix>*, …:user/<path/><name> or …:user/<path/>*"
	if !principalRE.MatchString(pattern) {
		return principal{}, fmt.Errorf("%q is not a principal ARN pattern such as arn:aws:iam::<account>:role/<name>", pattern)
	}
	parts := strings.SplitN(pattern, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" {
		if strings.HasPrefix(pattern, "arn:") && len(parts) == 6 && parts[2] == "sts" {
			return principal{}, fmt.Errorf("%q is an STS ARN: name the role itself (%s)", pattern, usage)
		}
		return principal{}, fmt.Errorf("%q is not an IAM principal pattern: %s", pattern, usage)
	}
	p := principal{partition: parts[1], account: parts[4]}
	resource := parts[5]
	switch {
	case !partitions[p.partition]:
		return principal{}, fmt.Errorf("%q names partition %q, not aws, aws-cn or aws-us-gov", pattern, p.partition)
	case !accountRE.MatchString(p.account):
		return principal{}, fmt.Errorf("%q does not name one 12-digit account: a pattern never spans accounts", pattern)
	case p.account != accountID:
		return principal{}, fmt.Errorf("%q names account %s, not this entry's %s", pattern, p.account, accountID)
	case resource == "root":
		return principal{}, fmt.Errorf("%q is the account's root user, which is never admitted: name the role the partner onboards with", pattern)
	case strings.Count(resource, "*") > 1 || (strings.Contains(resource, "*") && !strings.HasSuffix(resource, "*")):
		return principal{}, fmt.Errorf("%q has a \"*\" that is not its last character: the only wildcard is one final \"*\"", pattern)
	}
	kind, rest, _ := strings.Cut(resource, "/")
	p.name, p.prefix = strings.TrimSuffix(rest, "*"), strings.HasSuffix(rest, "*")
	switch kind {
	case "role":
		p.role = true
		if strings.Contains(p.name, "/") {
			return principal{}, fmt.Errorf("%q names a role path: a role session's ARN carries only the role's name, so name the role without its path (role/<name> or role/<name prefix>*)", pattern)
		}
		if !iamName.MatchString(p.name) {
			if p.prefix && p.name == "" {
				return principal{}, fmt.Errorf("%q admits every role of the account: name the role, or a name prefix before the \"*\"", pattern)
			}
			return principal{}, fmt.Errorf("%q: the role name is not 1 to 64 of IAM's characters (letters, digits and +=,.@_-)", pattern)
		}
	case "user":
		segs := strings.Split(p.name, "/")
		if p.prefix {
			// user/<path/>*: a path of one or more segments, ending in "/".
			if len(segs) < 2 || segs[len(segs)-1] != "" {
				return principal{}, fmt.Errorf("%q: a user wildcard is a whole path, user/<path>/*, and never every user of the account", pattern)
			}
			segs = segs[:len(segs)-1]
		}
		for _, s := range segs {
			if !iamName.MatchString(s) {
				return principal{}, fmt.Errorf("%q: the user's path and name are not segments of IAM's characters (letters, digits and +=,.@_-) joined by \"/\"", pattern)
			}
		}
	default:
		return principal{}, fmt.Errorf("%q is neither a role nor a user: %s", pattern, usage)
	}
	return p, nil
}

// matches reports whether the principal arn (GetCallerIdentity's) is one p names.
func (p principal) matches(arn string) bool {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[1] != p.partition || parts[3] != "" || parts[4] != p.account {
		return false
	}
	service, resource := parts[2], parts[5]
	if p.role {
		// arn:<partition>:sts::<account>:assumed-role/<role name>/<session name>
		rest, ok := strings.CutPrefix(resource, "assumed-role/")
		if service != "sts" || !ok {
			return false
		}
		role, session, ok := strings.Cut(rest, "/")
		if !ok || session == "" || !iamName.MatchString(role) {
			return false
		}
		return role == p.name || (p.prefix && strings.HasPrefix(role, p.name))
	}
	// arn:<partition>:iam::<account>:user/<path/><name>
	user, ok := strings.CutPrefix(resource, "user/")
	if service != "iam" || !ok || user == "" || strings.HasSuffix(user, "/") {
		return false
	}
	return user == p.name || (p.prefix && strings.HasPrefix(user, p.name))
}

// Admits reports whether the entry admits the principal whose ARN GetCallerIdentity reported:
// whether one of its patterns names it. Root, federated users and other accounts' principals
// never match.
func (a Account) Admits(principalARN string) bool {
	for _, pattern := range a.Principals {
		p, err := parsePrincipal(pattern, a.AccountID)
		if err == nil && p.matches(principalARN) {
			return true
		}
	}
	return false
}
