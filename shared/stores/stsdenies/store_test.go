package stsdenies_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/stores/stsdenies"
	"github.com/lanyardhq/lanyard/topology"
)

// The scenarios run against the in-memory fake here and against DynamoDB Local in the
// integration test (dynamodb_integration_test.go), each on a fresh table keyed as the
// production declaration says.

type scenario struct {
	name string
	run  func(t *testing.T, db stsdenies.API, table string)
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

const (
	pA = "p-aaaaaaaaaaaaaaaaaaaaaaaaaa"
	pB = "p-bbbbbbbbbbbbbbbbbbbbbbbbbb"
)

func TestDeclarationMatchesTheStore(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("sts-denies")
	if !ok {
		t.Fatal("the production topology declares no sts-denies table")
	}
	if tb.PartitionKey.Name != stsdenies.PartitionKey || tb.PartitionKey.Type != topology.AttrString || tb.SortKey != nil {
		t.Errorf("keys %+v %+v, want %s (S) alone", tb.PartitionKey, tb.SortKey, stsdenies.PartitionKey)
	}
}

func TestScenariosOnTheFake(t *testing.T) {
	t.Parallel()
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			db := dynamodbtest.NewDynamoDB()
			db.CreateTable("sts-denies", dynamodbtest.KeyAttr{Name: stsdenies.PartitionKey, Type: types.ScalarAttributeTypeS}, nil)
			sc.run(t, db, "sts-denies")
		})
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func partners(es []stsdenies.Entry) []string {
	out := []string{}
	for _, e := range es {
		out = append(out, e.PartnerID+"@"+e.RevokedAt.Format("15:04:05"))
	}
	slices.Sort(out)
	return out
}

func scenarios() []scenario {
	return []scenario{
		{"an empty set", func(t *testing.T, db stsdenies.API, table string) {
			s := &stsdenies.Store{DB: db, Table: table}
			if st := must[stsdenies.Set](t)(s.State(t.Context())); st != (stsdenies.Set{}) {
				t.Errorf("state %+v, want zero", st)
			}
			if es := must[[]stsdenies.Entry](t)(s.Entries(t.Context())); len(es) != 0 {
				t.Errorf("entries %v", es)
			}
		}},
		{"adds bump the version; a partner keeps its latest revocation", func(t *testing.T, db stsdenies.API, table string) {
			s := &stsdenies.Store{DB: db, Table: table}
			ctx := t.Context()
			steps := []struct {
				e    stsdenies.Entry
				want int64
			}{
				{stsdenies.Entry{PartnerID: pA, RevokedAt: t0.Add(time.Minute), RevocationID: "r1"}, 1},
				{stsdenies.Entry{PartnerID: pB, RevokedAt: t0, RevocationID: "r2"}, 2},
				// A duplicate and an older revocation change nothing.
				{stsdenies.Entry{PartnerID: pA, RevokedAt: t0.Add(time.Minute), RevocationID: "r1"}, 2},
				{stsdenies.Entry{PartnerID: pA, RevokedAt: t0, RevocationID: "r0"}, 2},
				// A later one replaces the partner's entry.
				{stsdenies.Entry{PartnerID: pB, RevokedAt: t0.Add(2 * time.Minute), RevocationID: "r3"}, 3},
			}
			for i, st := range steps {
				if got := must[int64](t)(s.Add(ctx, st.e)); got != st.want {
					t.Fatalf("step %d: version %d, want %d", i, got, st.want)
				}
			}
			got := partners(must[[]stsdenies.Entry](t)(s.Entries(ctx)))
			want := []string{pA + "@12:01:00", pB + "@12:02:00"}
			if !slices.Equal(got, want) {
				t.Errorf("entries %v, want %v", got, want)
			}
			if _, err := s.Add(ctx, stsdenies.Entry{PartnerID: "#set", RevokedAt: t0}); err == nil {
				t.Error("an entry named like the set's item was accepted")
			}
		}},
		{"one lease holder at a time; rendered versions only go up", func(t *testing.T, db stsdenies.API, table string) {
			s := &stsdenies.Store{DB: db, Table: table}
			ctx := t.Context()
			must[int64](t)(s.Add(ctx, stsdenies.Entry{PartnerID: pA, RevokedAt: t0}))
			lease := 90 * time.Second
			if !must[bool](t)(s.Acquire(ctx, "w1", t0, t0.Add(lease))) {
				t.Fatal("w1 could not take a free lease")
			}
			if must[bool](t)(s.Acquire(ctx, "w2", t0.Add(time.Minute), t0.Add(time.Minute+lease))) {
				t.Fatal("w2 took a lease w1 holds")
			}
			if err := s.MarkRendered(ctx, "w2", 1); !errors.Is(err, stsdenies.ErrLeaseLost) {
				t.Fatalf("w2 recorded a render without the lease: %v", err)
			}
			if err := s.MarkRendered(ctx, "w1", 1); err != nil {
				t.Fatal(err)
			}
			if err := s.MarkRendered(ctx, "w1", 0); err != nil {
				t.Fatal(err)
			}
			if st := must[stsdenies.Set](t)(s.State(ctx)); st.Rendered != 1 || st.Version != 1 || st.LeaseOwner != "w1" {
				t.Fatalf("state %+v, want version 1 rendered, w1 holding", st)
			}
			// w1's time ran out (it crashed): w2 takes over; w1 can neither record nor release.
			if !must[bool](t)(s.Acquire(ctx, "w2", t0.Add(lease+time.Second), t0.Add(2*lease+time.Second))) {
				t.Fatal("w2 could not take an expired lease")
			}
			if err := s.MarkRendered(ctx, "w1", 5); !errors.Is(err, stsdenies.ErrLeaseLost) {
				t.Fatalf("w1 recorded a render after losing the lease: %v", err)
			}
			if err := s.Release(ctx, "w1"); err != nil {
				t.Fatal(err)
			}
			if st := must[stsdenies.Set](t)(s.State(ctx)); st.LeaseOwner != "w2" {
				t.Fatalf("w1's release took w2's lease: %+v", st)
			}
			if err := s.Release(ctx, "w2"); err != nil {
				t.Fatal(err)
			}
			if !must[bool](t)(s.Acquire(ctx, "w3", t0.Add(lease+2*time.Second), t0.Add(2*lease))) {
				t.Fatal("w3 could not take a released lease")
			}
		}},
		{"pruning removes the entries read, under the lease", func(t *testing.T, db stsdenies.API, table string) {
			s := &stsdenies.Store{DB: db, Table: table}
			ctx := t.Context()
			must[int64](t)(s.Add(ctx, stsdenies.Entry{PartnerID: pA, RevokedAt: t0}))
			must[int64](t)(s.Add(ctx, stsdenies.Entry{PartnerID: pB, RevokedAt: t0}))
			read := must[[]stsdenies.Entry](t)(s.Entries(ctx))
			if err := s.Remove(ctx, "w1", read); err == nil {
				t.Fatal("removed without the lease")
			}
			must[bool](t)(s.Acquire(ctx, "w1", t0, t0.Add(time.Minute)))
			// pB was revoked again meanwhile: its entry stays, and so does pA's (one transaction).
			must[int64](t)(s.Add(ctx, stsdenies.Entry{PartnerID: pB, RevokedAt: t0.Add(time.Hour)}))
			if err := s.Remove(ctx, "w1", read); err == nil {
				t.Fatal("removed an entry revoked again")
			}
			onlyA := slices.DeleteFunc(read, func(e stsdenies.Entry) bool { return e.PartnerID != pA })
			if err := s.Remove(ctx, "w1", onlyA); err != nil {
				t.Fatal(err)
			}
			got := partners(must[[]stsdenies.Entry](t)(s.Entries(ctx)))
			if want := []string{pB + "@13:00:00"}; !slices.Equal(got, want) {
				t.Errorf("entries %v after removing %s, want %v", got, pA, want)
			}
		}},
	}
}
