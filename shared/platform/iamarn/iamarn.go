// Package iamarn reads the IAM principal ARNs a deployment declares (its dependents: the
// internal systems that may introspect partner keys) and matches the ARN of a SigV4-signed
// caller, as API Gateway gives it in requestContext.identity.userArn, against them.
//
// A declared principal is an account's root user (arn:aws:iam::111122223333:root), an IAM
// user (arn:aws:iam::111122223333:user/path/name) or an IAM role
// (arn:aws:iam::111122223333:role/path/name), never a wildcard. A role signs as one of its
// sessions: API Gateway names the caller arn:aws:sts::111122223333:assumed-role/name/session,
// which a role matches by its account and name (a role's name is unique in its account,
// whatever its path); users and the root user match exactly.
package iamarn

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Kinds of declared principals.
const (
	KindRoot = "root"
	KindUser = "user"
	KindRole = "role"
)

// Principal is a declared IAM principal.
type Principal struct {
	// ARN is the principal's ARN as declared.
	ARN       string
	Partition string
	Account   string
	Kind      string
	// Name is the user's or role's name, without its path; "" for the root user.
	Name string
}

var (
	partitionRE = regexp.MustCompile(`^aws(-[a-z]+)*$`)
	accountRE   = regexp.MustCompile(`^[0-9]{12}$`)
	// IAM's names: letters, digits and +=,.@_- ; paths are "/" or "/segment/…/".
	nameRE = regexp.MustCompile(`^[A-Za-z0-9+=,.@_-]{1,128}$`)
	pathRE = regexp.MustCompile(`^(/[A-Za-z0-9+=,.@_-]+)*/$`)
)

// Parse reads a declared principal ARN. Its error says what is wrong and quotes the ARN (an
// ARN is no secret).
func Parse(arn string) (Principal, error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "iam" || parts[3] != "" {
		return Principal{}, fmt.Errorf("principal %q: not an IAM ARN (arn:<partition>:iam::<account>:root|user/…|role/…)", arn)
	}
	p := Principal{ARN: arn, Partition: parts[1], Account: parts[4]}
	if !partitionRE.MatchString(p.Partition) {
		return Principal{}, fmt.Errorf("principal %q: partition %q", arn, p.Partition)
	}
	if !accountRE.MatchString(p.Account) {
		return Principal{}, fmt.Errorf("principal %q: the account is not 12 digits", arn)
	}
	resource := parts[5]
	if resource == KindRoot {
		p.Kind = KindRoot
		return p, nil
	}
	kind, rest, _ := strings.Cut(resource, "/")
	if kind != KindUser && kind != KindRole {
		return Principal{}, fmt.Errorf("principal %q: not root, a user or a role", arn)
	}
	i := strings.LastIndex(rest, "/")
	path, name := "/"+rest[:i+1], rest[i+1:]
	if i < 0 {
		path, name = "/", rest
	}
	if !nameRE.MatchString(name) || !pathRE.MatchString(path) {
		return Principal{}, fmt.Errorf("principal %q: the %s's path or name is not IAM's (no wildcards)", arn, kind)
	}
	p.Kind, p.Name = kind, name
	return p, nil
}

// ParseAll reads each declared principal; its error joins every one that does not parse.
func ParseAll(arns []string) ([]Principal, error) {
	out := make([]Principal, 0, len(arns))
	var errs []error
	for _, a := range arns {
		p, err := Parse(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, p)
	}
	return out, errors.Join(errs...)
}

// Admits reports whether caller, the ARN API Gateway gives a signed request's caller, is this
// principal: the root user or a user exactly; a role through any of its sessions
// (arn:<partition>:sts::<account>:assumed-role/<name>/<session>).
func (p Principal) Admits(caller string) bool {
	switch p.Kind {
	case KindRoot, KindUser:
		return caller == p.ARN
	case KindRole:
		prefix := "arn:" + p.Partition + ":sts::" + p.Account + ":assumed-role/" + p.Name + "/"
		session, ok := strings.CutPrefix(caller, prefix)
		return ok && session != "" && !strings.Contains(session, "/")
	}
	return false
}

// AnyAdmits reports whether one of principals admits caller.
func AnyAdmits(principals []Principal, caller string) bool {
	for _, p := range principals {
		if p.Admits(caller) {
			return true
		}
	}
	return false
}
