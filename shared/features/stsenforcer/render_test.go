package stsenforcer_test

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/shared/fakes/iamtest"
	"github.com/lanyardhq/lanyard/shared/features/stsenforcer"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const (
	window     = 15 * time.Second
	maxSession = time.Hour
)

var rules = stsenforcer.Rules{Window: window, MaxSession: maxSession}

// session is what IAM evaluates a partner session by: its partner tag and issue time.
type session struct {
	partner string
	issued  time.Time
}

// policies parses the documents with the test evaluator of IAM (shared/fakes/iamtest).
func parse(t *testing.T, docs []string) iamtest.Policies {
	t.Helper()
	p, err := iamtest.Parse(docs)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// denied says whether the documents deny a request of the partner's session s.
func denied(p iamtest.Policies, s session) bool {
	return p.Denied(iamtest.Request{
		Strings: map[string]string{stsenforcer.PartnerKey: s.partner},
		Dates:   map[string]time.Time{stsenforcer.IssueTimeKey: s.issued},
	})
}

func all(d stsenforcer.Documents) []string {
	var out []string
	if d.Inline != "" {
		out = append(out, d.Inline)
	}
	return append(out, d.Managed...)
}

// withinLimits fails for a document over IAM's limits, with white space, with a duplicate
// Sid, or more managed policies than slots.
func withinLimits(t *testing.T, d stsenforcer.Documents, slots int) {
	t.Helper()
	if len(d.Inline) > stsenforcer.InlineLimit {
		t.Errorf("inline policy of %d characters, over %d", len(d.Inline), stsenforcer.InlineLimit)
	}
	if len(d.Managed) > slots {
		t.Errorf("%d managed policies for %d slots", len(d.Managed), slots)
	}
	for i, m := range d.Managed {
		if len(m) > stsenforcer.ManagedLimit {
			t.Errorf("managed policy %d of %d characters, over %d", i, len(m), stsenforcer.ManagedLimit)
		}
	}
	for _, doc := range all(d) {
		var parsed struct {
			Version   string
			Statement []struct{ Sid string }
		}
		if err := json.Unmarshal([]byte(doc), &parsed); err != nil || parsed.Version != "2012-10-17" || len(parsed.Statement) == 0 {
			t.Fatalf("document %.200s…: %v", doc, err)
		}
		sids := map[string]bool{}
		for _, s := range parsed.Statement {
			if s.Sid == "" || sids[s.Sid] {
				t.Errorf("Sid %q empty or repeated", s.Sid)
			}
			sids[s.Sid] = true
		}
		compact, _ := json.Marshal(json.RawMessage(doc))
		if len(compact) != len(doc) {
			t.Errorf("document carries white space")
		}
	}
}

func partnerID(r *rand.Rand) string {
	const alphabet = "0123456789abcdefghjkmnpqrstvwxyz"
	b := make([]byte, 26)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return "p-" + string(b)
}

// revocationsWithin are n partners revoked at random times within span after t0.
func revocationsWithin(seed uint64, n int, span time.Duration) []stsenforcer.Entry {
	r := rand.New(rand.NewPCG(seed, 16)) //nolint:gosec // a seeded, reproducible set of test partners, not a secret
	out := make([]stsenforcer.Entry, n)
	for i := range out {
		out[i] = stsenforcer.Entry{PartnerID: partnerID(r), RevokedAt: t0.Add(time.Duration(r.Int64N(int64(span))))}
	}
	return out
}

// checkDenies: every revoked partner's session issued before its revocation is denied, and one
// issued after its bucket's end is not (unless the role-wide deny holds it); a partner never
// revoked keeps its sessions (unless issued before the role-wide cut-off).
func checkDenies(t *testing.T, d stsenforcer.Documents, entries []stsenforcer.Entry) {
	t.Helper()
	docs := parse(t, all(d))
	for _, e := range entries {
		if !denied(docs, session{e.PartnerID, e.RevokedAt.Add(-time.Second)}) {
			t.Fatalf("%s: a session issued before its revocation at %s is not denied", e.PartnerID, e.RevokedAt)
		}
		if !denied(docs, session{e.PartnerID, e.RevokedAt.Add(window - time.Second)}) {
			t.Fatalf("%s: a session issued within the exchange window after its revocation is not denied", e.PartnerID)
		}
		cut := stsenforcer.CutoffOf(e.RevokedAt, window)
		if denied(docs, session{e.PartnerID, cut.Add(time.Second)}) && d.Cutoff.Before(cut.Add(time.Second)) {
			// Only another, later revocation of the same partner may deny it.
			later := slices.ContainsFunc(entries, func(o stsenforcer.Entry) bool {
				return o.PartnerID == e.PartnerID && stsenforcer.CutoffOf(o.RevokedAt, window).After(cut)
			})
			if !later {
				t.Fatalf("%s: a session issued after its bucket's end %s is denied", e.PartnerID, cut)
			}
		}
	}
	other := "p-0000000000000000000000000a"
	last := entries[0].RevokedAt
	for _, e := range entries {
		if e.RevokedAt.After(last) {
			last = e.RevokedAt
		}
	}
	for _, at := range []time.Time{t0.Add(-time.Minute), t0, last} {
		want := at.Before(d.Cutoff)
		if got := denied(docs, session{other, at}); got != want {
			t.Fatalf("another partner's session issued at %s: denied %v, want %v (role-wide cut-off %s)", at, got, want, d.Cutoff)
		}
	}
}

// A thousand revocations within an hour fit the inline policy and the managed policies a role
// has room for, partners grouped a minute at a time, with no role-wide deny.
func TestAThousandRevocationsWithinAnHourFit(t *testing.T) {
	t.Parallel()
	entries := revocationsWithin(1, 1000, time.Hour)
	now := t0.Add(time.Hour)
	const slots = stsenforcer.AttachmentQuota - 1 // the role's own grants take one
	d, err := rules.Render(entries, now, slots)
	if err != nil {
		t.Fatal(err)
	}
	withinLimits(t, d, slots)
	if !d.Cutoff.IsZero() {
		t.Fatalf("role-wide deny before %s, want none", d.Cutoff)
	}
	if len(d.Managed) == 0 {
		t.Fatal("no managed policy: the inline policy alone cannot hold a thousand partners")
	}
	if len(d.Kept) != len(entries) {
		t.Fatalf("%d entries kept, want %d", len(d.Kept), len(entries))
	}
	checkDenies(t, d, entries)
	total := len(d.Inline)
	for _, m := range d.Managed {
		total += len(m)
	}
	t.Logf("1000 partners: inline %d characters, %d managed policies, %d characters in all", len(d.Inline), len(d.Managed), total)
}

// The documents overflow from the inline policy into managed policies, and past the slots fall
// back to a role-wide deny of the oldest buckets' sessions: revoked partners stay denied
// either way; the role-wide deny takes every partner's sessions issued before it, no later
// ones.
func TestOverflowAndFallback(t *testing.T) {
	t.Parallel()
	entries := revocationsWithin(2, 1000, time.Hour)
	now := t0.Add(time.Hour)
	tests := []struct {
		name         string
		entries      []stsenforcer.Entry
		slots        int
		managed      int // -1: any number > 0
		wantFallback bool
	}{
		{"one partner: inline only", entries[:1], 9, 0, false},
		{"fifty partners: inline only", entries[:50], 9, 0, false},
		{"four hundred partners: overflow into managed policies", entries[:400], 9, -1, false},
		{"a thousand partners, three slots: role-wide deny", entries, 3, 3, true},
		{"a thousand partners, no slot: role-wide deny", entries, 0, 0, true},
		{"a quota fully taken (negative slots)", entries, -2, 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := rules.Render(tc.entries, now, tc.slots)
			if err != nil {
				t.Fatal(err)
			}
			withinLimits(t, d, max(tc.slots, 0))
			if got := !d.Cutoff.IsZero(); got != tc.wantFallback {
				t.Fatalf("role-wide deny %v (%s), want %v", got, d.Cutoff, tc.wantFallback)
			}
			if (tc.managed == -1 && len(d.Managed) == 0) || (tc.managed >= 0 && len(d.Managed) != tc.managed) {
				t.Fatalf("%d managed policies, want %d", len(d.Managed), tc.managed)
			}
			checkDenies(t, d, tc.entries)
			if tc.wantFallback {
				// The role-wide deny is a bucket's end: the newest of the folded buckets, which
				// the other buckets all come after.
				later := 0
				for _, e := range tc.entries {
					if stsenforcer.CutoffOf(e.RevokedAt, window).After(d.Cutoff) {
						later++
					}
				}
				if later == 0 && tc.slots > 0 {
					t.Errorf("role-wide deny %s covers every bucket, though %d slots are there", d.Cutoff, tc.slots)
				}
			}
		})
	}
}

// Entries whose bucket ended a whole longest session ago deny nothing live: they are pruned,
// and no documents are left when all are.
func TestPruning(t *testing.T) {
	t.Parallel()
	old := stsenforcer.Entry{PartnerID: "p-0000000000000000000000000b", RevokedAt: t0}
	recent := stsenforcer.Entry{PartnerID: "p-0000000000000000000000000c", RevokedAt: t0.Add(30 * time.Minute)}
	cut := stsenforcer.CutoffOf(old.RevokedAt, window)
	tests := []struct {
		name string
		now  time.Time
		kept []string
	}{
		{"both live", t0.Add(31 * time.Minute), []string{old.PartnerID, recent.PartnerID}},
		{"old one's sessions may still live", cut.Add(maxSession - time.Second), []string{old.PartnerID, recent.PartnerID}},
		{"old one pruned", cut.Add(maxSession), []string{recent.PartnerID}},
		{"both pruned", t0.Add(3 * time.Hour), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := rules.Render([]stsenforcer.Entry{old, recent}, tc.now, 9)
			if err != nil {
				t.Fatal(err)
			}
			var kept []string
			for _, e := range d.Kept {
				kept = append(kept, e.PartnerID)
			}
			if !slices.Equal(kept, tc.kept) {
				t.Fatalf("kept %v, want %v", kept, tc.kept)
			}
			if len(tc.kept) == 0 && (d.Inline != "" || len(d.Managed) > 0) {
				t.Fatalf("documents left: %q %v", d.Inline, d.Managed)
			}
			for _, p := range tc.kept {
				if !denied(parse(t, all(d)), session{p, t0.Add(-time.Minute)}) {
					t.Errorf("%s no longer denied", p)
				}
			}
		})
	}
}

// Partners revoked in the same bucket share a statement; a session of the partner issued after
// the revocation but before the bucket's end is denied too (the partner exchanges again after
// it), and the documents are the same whatever the entries' order.
func TestBucketsGroupPartners(t *testing.T) {
	t.Parallel()
	var entries []stsenforcer.Entry
	for i := range 5 {
		entries = append(entries, stsenforcer.Entry{PartnerID: fmt.Sprintf("p-%026d", i), RevokedAt: t0.Add(time.Duration(i) * 12 * time.Second)})
	}
	d, err := rules.Render(entries, t0.Add(time.Minute), 9)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct{ Statement []json.RawMessage }
	if err := json.Unmarshal([]byte(d.Inline), &doc); err != nil {
		t.Fatal(err)
	}
	// 12:00:00 … 12:00:48, each + 15s: buckets ending 12:01 (four) and 12:02 (one).
	if len(doc.Statement) != 2 {
		t.Fatalf("%d statements, want 2: %s", len(doc.Statement), d.Inline)
	}
	p := entries[0].PartnerID
	if !denied(parse(t, all(d)), session{p, t0.Add(59 * time.Second)}) || denied(parse(t, all(d)), session{p, t0.Add(time.Minute)}) {
		t.Errorf("partner revoked at 12:00:00: want sessions denied until 12:01:00 and not after: %s", d.Inline)
	}
	reversed := slices.Clone(entries)
	slices.Reverse(reversed)
	again, err := rules.Render(reversed, t0.Add(time.Minute), 9)
	if err != nil || again.Inline != d.Inline {
		t.Errorf("order changes the documents: %v\n%s\n%s", err, again.Inline, d.Inline)
	}
}
