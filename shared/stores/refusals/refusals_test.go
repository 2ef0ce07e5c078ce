package refusals_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/stores/refusals"
	"github.com/lanyardhq/lanyard/topology"
)

func TestTableDeclarationMatchesTheStore(t *testing.T) {
	t.Parallel()
	tb, ok := topology.Lanyard().Table("refusals")
	if !ok {
		t.Fatal("no refusals table declared")
	}
	if tb.PartitionKey != (topology.Attr{Name: refusals.PartitionKey, Type: topology.AttrString}) ||
		tb.SortKey == nil || *tb.SortKey != (topology.Attr{Name: refusals.SortKey, Type: topology.AttrString}) ||
		tb.TTLAttribute != refusals.AttrPurgeAt {
		t.Errorf("declared %+v, want %s (S) / %s (S) with TTL %s", tb, refusals.PartitionKey, refusals.SortKey, refusals.AttrPurgeAt)
	}
}

func TestCheckWindow(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		d  time.Duration
		ok bool
	}{
		{time.Minute, true}, {5 * time.Second, true}, {time.Second, true}, {15 * time.Minute, true}, {time.Hour, true},
		{0, false}, {-time.Minute, false}, {500 * time.Millisecond, false}, {1500 * time.Millisecond, false},
		{7 * time.Second, false}, {7 * time.Minute, false}, {2 * time.Hour, false},
	} {
		if err := refusals.CheckWindow(c.d); (err == nil) != c.ok {
			t.Errorf("CheckWindow(%s) = %v, want ok %t", c.d, err, c.ok)
		}
	}
}

// Windows start on the clock, in UTC, whatever the time's zone; a window's key is its start.
func TestWindowStart(t *testing.T) {
	t.Parallel()
	paris := time.FixedZone("CET", 3600)
	for _, c := range []struct {
		at     time.Time
		length time.Duration
		want   string
	}{
		{time.Date(2026, 3, 14, 10, 26, 53, 589793238, time.UTC), time.Minute, "2026-03-14T10:26:00Z"},
		{time.Date(2026, 3, 14, 10, 26, 0, 0, time.UTC), time.Minute, "2026-03-14T10:26:00Z"},
		{time.Date(2026, 3, 14, 10, 26, 59, 999999999, time.UTC), time.Minute, "2026-03-14T10:26:00Z"},
		{time.Date(2026, 3, 14, 10, 26, 53, 0, time.UTC), 5 * time.Second, "2026-03-14T10:26:50Z"},
		{time.Date(2026, 3, 14, 10, 26, 53, 0, time.UTC), 15 * time.Minute, "2026-03-14T10:15:00Z"},
		{time.Date(2026, 3, 14, 10, 26, 53, 0, time.UTC), time.Hour, "2026-03-14T10:00:00Z"},
		{time.Date(2026, 3, 14, 11, 26, 53, 0, paris), time.Hour, "2026-03-14T10:00:00Z"},
	} {
		if got := refusals.WindowKey(refusals.WindowStart(c.at, c.length)); got != c.want {
			t.Errorf("window of %s, length %s: %s, want %s", c.at, c.length, got, c.want)
		}
	}
}

func TestShardKeyRoundTrips(t *testing.T) {
	t.Parallel()
	for shard := range refusals.Shards {
		reason, got, err := refusals.ParseShardKey(refusals.ShardKey("invite-invalid", shard))
		if err != nil || reason != "invite-invalid" || got != shard {
			t.Errorf("shard %d: %q %d %v", shard, reason, got, err)
		}
	}
	for _, bad := range []string{"invite-invalid", "invite-invalid#8", "invite-invalid#-1", "invite-invalid#x", "#1", "Invite#1", "cursor"} {
		if _, _, err := refusals.ParseShardKey(bad); err == nil {
			t.Errorf("ParseShardKey(%q) accepted", bad)
		}
	}
}

type recorder struct {
	in  []*dynamodb.UpdateItemInput
	err error
}

func (r *recorder) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	r.in = append(r.in, in)
	return &dynamodb.UpdateItemOutput{}, r.err
}

// One refusal is one UpdateItem adding 1 to one shard of its reason in its window, with the
// purge time after the window's end.
func TestCounterAddsOneToAShardOfItsWindow(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 14, 10, 26, 53, 0, time.UTC)
	db := &recorder{}
	c := &refusals.Counter{DB: db, Table: "lanyard-refusals", Window: time.Minute, Now: func() time.Time { return at }, Shard: func() int { return 11 }}
	if err := c.Add(t.Context(), "invite-invalid"); err != nil {
		t.Fatal(err)
	}
	if len(db.in) != 1 {
		t.Fatalf("%d UpdateItem calls, want 1", len(db.in))
	}
	in := db.in[0]
	key := in.Key
	if aws.ToString(in.TableName) != "lanyard-refusals" ||
		key["window"].(*types.AttributeValueMemberS).Value != "2026-03-14T10:26:00Z" ||
		key["reason"].(*types.AttributeValueMemberS).Value != "invite-invalid#3" ||
		aws.ToString(in.UpdateExpression) != "ADD #n :one SET #purge = :purge" ||
		in.ExpressionAttributeValues[":one"].(*types.AttributeValueMemberN).Value != "1" ||
		in.ExpressionAttributeValues[":purge"].(*types.AttributeValueMemberN).Value != "1773743220" || // 10:27 + 3 days
		in.ConditionExpression != nil {
		t.Errorf("UpdateItem %+v", in)
	}

	for _, reason := range []string{"", "Invite", "invite#1", "cursor "} {
		if err := c.Add(t.Context(), reason); err == nil {
			t.Errorf("Add(%q) accepted", reason)
		}
	}
	if len(db.in) != 1 {
		t.Errorf("a refused reason was written")
	}
	db.err = errors.New("throttled")
	if err := c.Add(t.Context(), "invite-invalid"); err == nil || !errors.Is(err, db.err) {
		t.Errorf("Add with a failing UpdateItem: %v", err)
	}
}

// Random shards stay within 0..Shards-1 and spread.
func TestCounterSpreadsOverTheShards(t *testing.T) {
	t.Parallel()
	db := &recorder{}
	c := &refusals.Counter{DB: db, Table: "t", Window: time.Minute}
	seen := map[string]bool{}
	for range 400 {
		if err := c.Add(t.Context(), "invite-invalid"); err != nil {
			t.Fatal(err)
		}
	}
	for _, in := range db.in {
		k := in.Key["reason"].(*types.AttributeValueMemberS).Value
		if _, _, err := refusals.ParseShardKey(k); err != nil {
			t.Fatal(err)
		}
		seen[k] = true
	}
	if len(seen) != refusals.Shards {
		t.Errorf("400 refusals used %d shards, want all %d", len(seen), refusals.Shards)
	}
}

func newStore(t *testing.T) (*refusals.Store, *dynamodbtest.DynamoDB) {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("refusals", dynamodbtest.KeyAttr{Name: refusals.PartitionKey, Type: types.ScalarAttributeTypeS},
		&dynamodbtest.KeyAttr{Name: refusals.SortKey, Type: types.ScalarAttributeTypeS})
	return &refusals.Store{DB: db, Table: "refusals"}, db
}

func put(t *testing.T, db *dynamodbtest.DynamoDB, window, reason, n string) {
	t.Helper()
	_, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("refusals"), Item: map[string]types.AttributeValue{
		"window": &types.AttributeValueMemberS{Value: window}, "reason": &types.AttributeValueMemberS{Value: reason},
		"n": &types.AttributeValueMemberN{Value: n},
	}})
	if err != nil {
		t.Fatal(err)
	}
}

// A window's counts are its reasons' shards summed; other windows and the cursor are not read.
func TestCountsSumTheShardsOfAWindow(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	put(t, db, "2026-03-14T10:26:00Z", "invite-invalid#0", "3")
	put(t, db, "2026-03-14T10:26:00Z", "invite-invalid#7", "4")
	put(t, db, "2026-03-14T10:26:00Z", "account-not-allowed#2", "1")
	put(t, db, "2026-03-14T10:27:00Z", "invite-invalid#0", "100")
	put(t, db, "cursor", "cursor", "0")
	got, err := s.Counts(t.Context(), time.Date(2026, 3, 14, 10, 26, 0, 0, time.UTC))
	want := []refusals.Count{{Reason: "account-not-allowed", N: 1}, {Reason: "invite-invalid", N: 7}}
	if err != nil || len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("Counts = %v, %v; want %v", got, err, want)
	}
	got, err = s.Counts(t.Context(), time.Date(2026, 3, 14, 10, 28, 0, 0, time.UTC))
	if err != nil || len(got) != 0 {
		t.Errorf("Counts of an empty window = %v, %v", got, err)
	}
	put(t, db, "2026-03-14T10:29:00Z", "bogus", "1")
	if _, err := s.Counts(t.Context(), time.Date(2026, 3, 14, 10, 29, 0, 0, time.UTC)); err == nil {
		t.Error("Counts read an item whose reason is not <reason>#<shard>")
	}
}

// The cursor moves only from the value read: of two runs that read the same cursor, one
// advances it.
func TestCursorAdvancesOnlyFromTheValueRead(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	ctx := t.Context()
	first := time.Date(2026, 3, 14, 10, 26, 0, 0, time.UTC)
	c, err := s.Cursor(ctx)
	if err != nil || c.Found {
		t.Fatalf("Cursor of an empty table = %+v, %v", c, err)
	}
	if ok, err := s.Advance(ctx, c, first); !ok || err != nil {
		t.Fatalf("first Advance = %t, %v", ok, err)
	}
	if ok, err := s.Advance(ctx, c, first.Add(time.Minute)); ok || err != nil {
		t.Errorf("a second Advance from no cursor = %t, %v; want false", ok, err)
	}
	read, err := s.Cursor(ctx)
	if err != nil || !read.Found || !read.Next.Equal(first) {
		t.Fatalf("Cursor = %+v, %v; want %s", read, err, first)
	}
	next := first.Add(time.Minute)
	if ok, err := s.Advance(ctx, read, next); !ok || err != nil {
		t.Fatalf("Advance = %t, %v", ok, err)
	}
	if ok, err := s.Advance(ctx, read, next.Add(time.Minute)); ok || err != nil {
		t.Errorf("Advance from a stale read = %t, %v; want false", ok, err)
	}
	if read, err := s.Cursor(ctx); err != nil || !read.Next.Equal(next) {
		t.Errorf("Cursor = %+v, %v; want %s", read, err, next)
	}
}
