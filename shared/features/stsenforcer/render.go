package stsenforcer

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/shared/domain/sessiontag"
)

// IAM's limits the documents are rendered within. IAM does not count white space; the
// documents carry none.
const (
	// InlineLimit is the size of all of a role's inline policies together.
	InlineLimit = 10240
	// ManagedLimit is the size of one customer managed policy.
	ManagedLimit = 6144
	// AttachmentQuota is how many managed policies a role may have attached (IAM's default
	// quota): the enforcer's policies take the slots the role's own policies leave.
	AttachmentQuota = 10
)

// Bucket is the width of the time buckets statements group partners by: every partner whose
// cut-off falls in the same minute shares one statement.
const Bucket = time.Minute

// The condition keys the deny uses.
const (
	// PartnerKey is the session tag every partner session carries (token exchange).
	PartnerKey = "aws:PrincipalTag/" + sessiontag.Partner
	// IssueTimeKey is when STS issued the session's credentials.
	IssueTimeKey = "aws:TokenIssueTime"
)

// Entry is one revoked partner: its latest revocation's time.
type Entry struct {
	PartnerID string
	RevokedAt time.Time
}

// Rules say how the entries become documents.
type Rules struct {
	// Window is added to a revocation's time before its bucket is chosen: an exchange whose
	// registry read came before the revocation may still call AssumeRole until the token
	// function's timeout has run out, so its session must fall before the cut-off too.
	Window time.Duration
	// MaxSession is the longest session the token exchange issues (the policy tiers'
	// tokenExchange.sessionDuration): an entry whose cut-off is older than that denies no live
	// session, and is pruned.
	MaxSession time.Duration
	// InlineLimit and ManagedLimit are the documents' sizes (zero: IAM's).
	InlineLimit, ManagedLimit int
}

// Documents are the deny as IAM holds it.
type Documents struct {
	// Inline is the role's inline policy, "" when nothing is denied.
	Inline string
	// Managed are the customer managed policies attached to the role, in order.
	Managed []string
	// Cutoff, when not zero, is the role-wide deny: every session issued before it is denied,
	// whatever its partner (the entries did not fit in the documents).
	Cutoff time.Time
	// Kept are the entries the documents deny; the others were pruned.
	Kept []Entry
}

// CutoffOf is the end of the bucket a revocation at t falls in: sessions issued before it are
// denied. It is always after t + window.
func CutoffOf(t time.Time, window time.Duration) time.Time {
	return t.Add(window).UTC().Truncate(Bucket).Add(Bucket)
}

// statement is one IAM policy statement, its fields in IAM's order.
type statement struct {
	Sid       string
	Effect    string
	Action    string
	Resource  string
	Condition map[string]map[string]any
}

type document struct {
	Version   string
	Statement []statement
}

const policyVersion = "2012-10-17"

// docOverhead is the size of a document with no statement.
var docOverhead = size(document{Version: policyVersion, Statement: []statement{}})

func size(v any) int {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("stsenforcer: marshal %T: %v", v, err))
	}
	return len(b)
}

// bucket is the partners sharing one cut-off.
type bucket struct {
	end      time.Time
	partners []string
}

func stamp(t time.Time) string { return t.UTC().Format("20060102T1504Z") }

func partnerStatement(end time.Time, n int, partners []string) statement {
	return statement{
		Sid: fmt.Sprintf("RevokedBefore%sN%d", strings.ReplaceAll(stamp(end), "T", ""), n), Effect: "Deny", Action: "*", Resource: "*",
		Condition: map[string]map[string]any{
			"StringEquals": {PartnerKey: partners},
			"DateLessThan": {IssueTimeKey: end.UTC().Format(time.RFC3339)},
		},
	}
}

func roleWideStatement(cutoff time.Time) statement {
	return statement{
		Sid: "RevokedAllBefore" + strings.ReplaceAll(stamp(cutoff), "T", ""), Effect: "Deny", Action: "*", Resource: "*",
		Condition: map[string]map[string]any{"DateLessThan": {IssueTimeKey: cutoff.UTC().Format(time.RFC3339)}},
	}
}

// Render lays the entries out as documents for slots managed policies: the entries whose
// cut-off plus the longest session is past now are pruned; the others, grouped by bucket
// (newest first, partners in id order), fill the inline policy, then the managed policies in
// turn, a bucket split over statements where a document fills up. When they do not fit, the
// oldest buckets are folded into the role-wide deny (the first statement) until the rest
// does: every session issued before the newest folded bucket's end is denied.
func (r Rules) Render(entries []Entry, now time.Time, slots int) (Documents, error) {
	inline, managed := r.InlineLimit, r.ManagedLimit
	if inline == 0 {
		inline = InlineLimit
	}
	if managed == 0 {
		managed = ManagedLimit
	}
	if slots < 0 {
		slots = 0
	}
	caps := []int{inline}
	for range slots {
		caps = append(caps, managed)
	}

	var out Documents
	byEnd := map[time.Time]*bucket{}
	for _, e := range entries {
		if e.PartnerID == "" || e.RevokedAt.IsZero() {
			return Documents{}, fmt.Errorf("render: an entry without a partner or a time (%q)", e.PartnerID)
		}
		end := CutoffOf(e.RevokedAt, r.Window)
		if !end.Add(r.MaxSession).After(now) {
			continue
		}
		out.Kept = append(out.Kept, e)
		b := byEnd[end]
		if b == nil {
			b = &bucket{end: end}
			byEnd[end] = b
		}
		b.partners = append(b.partners, e.PartnerID)
	}
	buckets := make([]*bucket, 0, len(byEnd))
	for _, b := range byEnd {
		slices.Sort(b.partners)
		b.partners = slices.Compact(b.partners)
		buckets = append(buckets, b)
	}
	// Newest first: a new revocation's statement goes to the front, pruning takes from the
	// back; Role.Apply writes back to front, so a statement pushed on into the next document
	// is in its new place before it leaves its old one.
	slices.SortFunc(buckets, func(a, b *bucket) int { return b.end.Compare(a.end) })

	for folded := 0; folded <= len(buckets); folded++ {
		var cutoff time.Time
		if folded > 0 {
			cutoff = buckets[len(buckets)-folded].end
		}
		docs, ok := pack(buckets[:len(buckets)-folded], cutoff, caps)
		if !ok {
			continue
		}
		out.Cutoff = cutoff
		for i, d := range docs {
			if len(d.Statement) == 0 {
				continue
			}
			b, err := json.Marshal(d)
			if err != nil {
				return Documents{}, fmt.Errorf("render: %w", err)
			}
			if i == 0 {
				out.Inline = string(b)
			} else {
				out.Managed = append(out.Managed, string(b))
			}
		}
		return out, nil
	}
	return Documents{}, errors.New("render: the role-wide deny alone does not fit the inline policy")
}

// pack fills documents of the capacities caps with the role-wide statement (when cutoff is
// set) and the buckets' statements, in order; false when they do not fit.
func pack(buckets []*bucket, cutoff time.Time, caps []int) ([]document, bool) {
	docs := []document{{Version: policyVersion}}
	used := docOverhead
	// place reserves n characters in the current document or the next ones; false when no
	// document is left.
	place := func(n int) bool {
		for {
			sep := 0
			if len(docs[len(docs)-1].Statement) > 0 {
				sep = 1
			}
			if used+sep+n <= caps[len(docs)-1] {
				used += sep + n
				return true
			}
			if len(docs) == len(caps) {
				return false
			}
			docs = append(docs, document{Version: policyVersion})
			used = docOverhead
		}
	}
	add := func(s statement) { d := &docs[len(docs)-1]; d.Statement = append(d.Statement, s) }
	if !cutoff.IsZero() {
		s := roleWideStatement(cutoff)
		if !place(size(s)) {
			return nil, false
		}
		add(s)
	}
	for _, b := range buckets {
		rest := b.partners
		for n := 0; len(rest) > 0; n++ {
			one := size(partnerStatement(b.end, n, rest[:1]))
			if !place(one) {
				return nil, false
			}
			// The statement holds as many partners as the room left in this document takes.
			k := 1
			for k < len(rest) {
				extra := size(rest[k]) + 1
				if used+extra > caps[len(docs)-1] {
					break
				}
				used += extra
				k++
			}
			add(partnerStatement(b.end, n, slices.Clone(rest[:k])))
			rest = rest[k:]
		}
	}
	return docs, true
}
