//go:build integration

// Package failclosed shows that every decision is fail-closed under DynamoDB faults: the real
// handler code runs in this process against DynamoDB Local (tables created as the topology
// declares them), through a client whose SDK middleware (faultinject.APIFaults) answers one of
// the decision's DynamoDB calls — or every call from it on — with a throttle, a 500 or a
// cancelled transaction, and each run checks that
//
//   - no state change landed without its outbox record and no record without its state change
//     (every table the decision touches is scanned before and after, and compared);
//   - the caller was told: a success is only ever answered for a decision that landed whole;
//   - once the fault clears, the same request succeeds, the decision is recorded exactly once,
//     and the partner's chain verifies.
//
// # Adding a decision
//
// One more row in decisions (decisions_integration_test.go): its name, the declared tables it
// touches (the outbox is always scanned), the tables whose changes are bookkeeping and not the
// decision's state (side, each with its reason), the detail types it records, in order, and a
// setup that prepares one fresh subject with the clean client (w.DB) and returns the act: the
// decision as its caller makes it, through w.Faulty, judged by an outcome (ok, answered,
// failed, refused …). The harness first runs the act without faults to learn its DynamoDB
// calls, then once per call and fault. A decision that is its record alone (recordOnly), one
// each act makes anew (repeatable), one that records its failure instead (failureRecords) and
// a failure's own record (failureReport) say so in their row. The faults are ddbfault's.
package failclosed

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/faultinject"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
)

// decision is one row of the table: a decision type and how to make it.
type decision struct {
	name string
	// tables are the declared tables (topology names) the decision touches besides the outbox.
	tables []string
	// side are the declared tables among tables whose changes are request bookkeeping, not the
	// decision's state (an idempotency claim): they may change without a record.
	side []string
	// records are the detail types the decision records, in order.
	records []string
	// setup prepares one fresh subject with w.DB and returns the decision's act.
	setup func(t *testing.T, w *world) act
	// retryAfter is how long a caller told of a failure waits before it tries again, when the
	// decision says so (an idempotency lease): the world's clock (w.Now) moves on that much.
	retryAfter time.Duration
	// recordOnly: the decision changes no state but its record (a token exchange, a rotation
	// request): what it gates is the caller's answer, a success only once the record landed,
	// and any effect outside DynamoDB, which the row's act checks.
	recordOnly bool
	// repeatable: every act is a new decision (another exchange, another invite, a key shown
	// again — a replayed onboarding, another pick-up — which is recorded as a pick-up of its
	// own): the caller tries again only when it was told of a failure.
	repeatable bool
	// failureRecords are what the decision records instead, with their own state change, when
	// its caller is told it failed (a rotation step's Credential Rotation Failed); a retry may
	// then land the decision after them.
	failureRecords []string
	// failureReport: the decision is a failure's record (a rotation step that fails): its
	// caller is told of the failure (ok: the act's error reached it) whether or not the
	// record lands, and calls again (Secrets Manager retries the step); what landed is judged
	// alone, and the retry must land it once.
	failureReport bool
}

// act makes the decision through w.Faulty and says what its caller was told.
type act func(ctx context.Context) outcome

// outcome is what the caller was told: ok for a success, and a line saying what.
type outcome struct {
	ok   bool
	what string
}

func succeeded(format string, args ...any) outcome {
	return outcome{ok: true, what: fmt.Sprintf(format, args...)}
}

func failed(format string, args ...any) outcome {
	return outcome{what: fmt.Sprintf(format, args...)}
}

// world is one decision's tables and clients.
type world struct {
	env *harness.Env
	// DB is the clean client, for setups and snapshots; Faulty goes through Faults.
	DB     *dynamodb.Client
	Faulty *dynamodb.Client
	Faults *faultinject.APIFaults
	// tables maps declared names to this world's table names.
	tables map[string]string
	// skew is how far the world's clock runs ahead of time.Now.
	skew atomic.Int64
}

// Now is the world's clock, for the handlers under test.
func (w *world) Now() time.Time { return time.Now().Add(time.Duration(w.skew.Load())) }

// Table is the world's name of declared table decl.
func (w *world) Table(decl string) string {
	name, ok := w.tables[decl]
	if !ok {
		panic("failclosed: table " + decl + " is not created for this decision")
	}
	return name
}

// newWorld creates the decision's tables as declared and a faulty client. The faulty client
// retries as the functions' clients do (awsconfig.MaxAttempts attempts) with no backoff and no
// retry quota, so hundreds of injected faults run fast and alike.
func newWorld(t *testing.T, env *harness.Env, decls []string) *world {
	t.Helper()
	w := &world{env: env, DB: env.DynamoDB, Faults: &faultinject.APIFaults{}, tables: map[string]string{}}
	for _, d := range append([]string{"outbox"}, decls...) {
		if _, done := w.tables[d]; done {
			continue
		}
		w.tables[d] = createDeclared(t, env, d)
	}
	w.Faulty = dynamodb.NewFromConfig(env.Config, func(o *dynamodb.Options) {
		o.DisableValidateResponseChecksum = true
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = awsconfig.MaxAttempts
			so.RateLimiter = ratelimit.None
			so.Backoff = retry.BackoffDelayerFunc(func(int, error) (time.Duration, error) { return 0, nil })
		})
		o.APIOptions = append(o.APIOptions, w.Faults.Install)
	})
	return w
}

// createDeclared creates a table as the topology declares decl (keys and indexes), deleted
// when the test ends, and returns its name.
func createDeclared(t *testing.T, env *harness.Env, decl string) string {
	t.Helper()
	tb, ok := topology.Lanyard().Table(decl)
	if !ok {
		t.Fatalf("no table %s declared", decl)
	}
	name := harness.Name("fc-" + decl)
	attrs := map[string]types.ScalarAttributeType{}
	schema := func(pk topology.Attr, sk *topology.Attr) []types.KeySchemaElement {
		attrs[pk.Name] = types.ScalarAttributeType(pk.Type)
		out := []types.KeySchemaElement{{AttributeName: aws.String(pk.Name), KeyType: types.KeyTypeHash}}
		if sk != nil {
			attrs[sk.Name] = types.ScalarAttributeType(sk.Type)
			out = append(out, types.KeySchemaElement{AttributeName: aws.String(sk.Name), KeyType: types.KeyTypeRange})
		}
		return out
	}
	in := &dynamodb.CreateTableInput{TableName: aws.String(name), BillingMode: types.BillingModePayPerRequest, KeySchema: schema(tb.PartitionKey, tb.SortKey)}
	for _, ix := range tb.Indexes {
		proj := &types.Projection{ProjectionType: types.ProjectionTypeAll}
		if ix.KeysOnly {
			proj = &types.Projection{ProjectionType: types.ProjectionTypeKeysOnly}
		}
		in.GlobalSecondaryIndexes = append(in.GlobalSecondaryIndexes, types.GlobalSecondaryIndex{IndexName: aws.String(ix.Name),
			KeySchema: schema(ix.PartitionKey, ix.SortKey), Projection: proj})
	}
	for n, ty := range attrs {
		in.AttributeDefinitions = append(in.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(n), AttributeType: ty})
	}
	if _, err := env.DynamoDB.CreateTable(t.Context(), in); err != nil {
		t.Fatalf("create table %s: %v", name, err)
	}
	t.Cleanup(func() {
		_, _ = env.DynamoDB.DeleteTable(context.Background(), &dynamodb.DeleteTableInput{TableName: aws.String(name)})
	})
	if err := dynamodb.NewTableExistsWaiter(env.DynamoDB).Wait(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("table %s never became active: %v", name, err)
	}
	return name
}

// fault is one kind of DynamoDB failure.
type fault struct {
	name string
	// tx: only a TransactWriteItems can answer it.
	tx  bool
	err func(op string, input any) error
}

// clear deletes every item of declared table decl, for a decision that reads a whole table
// (a scan, an index of open items), so each run makes the same calls.
func (w *world) clear(t *testing.T, decl string) {
	t.Helper()
	tb, _ := topology.Lanyard().Table(decl)
	p := dynamodb.NewScanPaginator(w.DB, &dynamodb.ScanInput{TableName: aws.String(w.Table(decl)), ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(t.Context())
		if err != nil {
			t.Fatalf("scan %s: %v", decl, err)
		}
		for _, it := range page.Items {
			key := map[string]types.AttributeValue{tb.PartitionKey.Name: it[tb.PartitionKey.Name]}
			if tb.SortKey != nil {
				key[tb.SortKey.Name] = it[tb.SortKey.Name]
			}
			if _, err := w.DB.DeleteItem(t.Context(), &dynamodb.DeleteItemInput{TableName: aws.String(w.Table(decl)), Key: key}); err != nil {
				t.Fatalf("clear %s: %v", decl, err)
			}
		}
	}
}

// faults are DynamoDB's failures (ddbfault), each answered by APIFaults at every attempt of
// a failing call.
var faults = []fault{
	{name: "throttled", err: ddbfault.Throttling().Answer},
	{name: "throughput-exceeded", err: ddbfault.ThroughputExceeded().Answer},
	{name: "internal-error", err: ddbfault.InternalServerError().Answer},
	{name: "cancelled-condition", tx: true, err: ddbfault.Cancelled("ConditionalCheckFailed").Answer},
	{name: "cancelled-conflict", tx: true, err: ddbfault.Cancelled("TransactionConflict").Answer},
}

// snapshot is every item of the decision's tables, by table then key, rendered comparably.
type snapshot map[string]map[string]string

func take(t *testing.T, w *world) snapshot {
	t.Helper()
	s := snapshot{}
	for decl, name := range w.tables {
		tb, _ := topology.Lanyard().Table(decl)
		items := map[string]string{}
		p := dynamodb.NewScanPaginator(w.DB, &dynamodb.ScanInput{TableName: aws.String(name), ConsistentRead: aws.Bool(true)})
		for p.HasMorePages() {
			page, err := p.NextPage(t.Context())
			if err != nil {
				t.Fatalf("scan %s: %v", name, err)
			}
			for _, it := range page.Items {
				key := render(it[tb.PartitionKey.Name])
				if tb.SortKey != nil {
					key += "/" + render(it[tb.SortKey.Name])
				}
				items[key] = renderItem(it)
			}
		}
		s[decl] = items
	}
	return s
}

func render(v types.AttributeValue) string {
	var x any
	if err := attributevalue.Unmarshal(v, &x); err != nil {
		return fmt.Sprintf("%#v", v)
	}
	return fmt.Sprint(x)
}

func renderItem(it map[string]types.AttributeValue) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(it)) {
		fmt.Fprintf(&b, "%s=%s;", k, render(it[k]))
	}
	return b.String()
}

// delta is what changed between two snapshots.
type delta struct {
	// state lists the changed items of the decision's state tables ("table key").
	state []string
	// side lists those of its side tables.
	side []string
	// records are the outbox records added, in key order, and heads the chains whose head
	// changed.
	records []recordAdded
	heads   []string
}

type recordAdded struct {
	chain      string
	detailType string
}

func diff(t *testing.T, d decision, before, after snapshot) delta {
	t.Helper()
	var out delta
	for decl, items := range after {
		old := before[decl]
		var changed []string
		for k, v := range items {
			if old[k] != v {
				changed = append(changed, k)
			}
		}
		for k := range old {
			if _, ok := items[k]; !ok {
				changed = append(changed, k)
			}
		}
		sort.Strings(changed)
		switch {
		case decl == "outbox":
			for _, k := range changed {
				i := strings.LastIndex(k, "/")
				chain, seq := k[:i], k[i+1:]
				if seq == fmt.Sprint(outbox.HeadSeq) {
					out.heads = append(out.heads, chain)
					continue
				}
				v, ok := items[k]
				if !ok {
					t.Errorf("outbox record %s was removed", k)
					continue
				}
				dt := between(v, "detailType=", ";")
				if _, existed := old[k]; existed {
					t.Errorf("outbox record %s (%s) was rewritten", k, dt)
				}
				out.records = append(out.records, recordAdded{chain: chain, detailType: dt})
			}
		case slices.Contains(d.side, decl):
			for _, k := range changed {
				out.side = append(out.side, decl+" "+k)
			}
		default:
			for _, k := range changed {
				out.state = append(out.state, decl+" "+k)
			}
		}
	}
	sort.Strings(out.state)
	return out
}

func between(s, from, to string) string {
	_, rest, _ := strings.Cut(s, from)
	v, _, _ := strings.Cut(rest, to)
	return v
}

func (d delta) detailTypes() []string {
	var out []string
	for _, r := range d.records {
		out = append(out, r.detailType)
	}
	return out
}

// check fails t unless the delta is a whole decision or none: records and state changes
// together, and when records, one of the sequences want (the decision's, or its failure's).
// It says whether the decision's own records landed.
func (d delta) check(t *testing.T, dec decision, when string, want ...[]string) (landed bool) {
	t.Helper()
	switch {
	case len(d.records) == 0 && len(d.state) > 0:
		t.Errorf("%s: state changed without its record: %v", when, d.state)
	case len(d.records) > 0 && len(d.state) == 0 && !dec.recordOnly:
		t.Errorf("%s: recorded %v without its state change", when, d.detailTypes())
	case dec.recordOnly && len(d.state) > 0:
		t.Errorf("%s: a decision that is its record alone changed state: %v", when, d.state)
	case len(d.records) > 0 && !slices.ContainsFunc(want, func(w []string) bool { return sameRecords(d.detailTypes(), w) }):
		t.Errorf("%s: recorded %v, want one of %v or nothing (a half decision)", when, d.detailTypes(), want)
	case (len(d.records) == 0) != (len(d.heads) == 0):
		t.Errorf("%s: %d records added, chain heads %v moved", when, len(d.records), d.heads)
	}
	return sameRecords(d.detailTypes(), dec.records)
}

// stated says whether the delta holds the state change a landed decision makes.
func (d delta) stated(dec decision) bool { return dec.recordOnly || len(d.state) > 0 }

func sameRecords(got, want []string) bool { return slices.Equal(got, want) }

// TestFailClosed runs every decision under every fault at each of its DynamoDB calls.
func TestFailClosed(t *testing.T) {
	t.Parallel()
	env, err := harness.Connect(t.Context())
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	for _, d := range decisions {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t, env, d.tables)
			calls := discover(t, w, d)
			if t.Failed() {
				return
			}
			for i, op := range calls {
				for _, f := range faults {
					if f.tx && op != "TransactWriteItems" {
						continue
					}
					for _, once := range []bool{false, true} {
						// One-call faults of each kind would say the same as the outage: one of
						// each class is enough there (a 500 and a conflict).
						if once && f.name != "internal-error" && f.name != "cancelled-conflict" {
							continue
						}
						mode := "outage"
						if once {
							mode = "once"
						}
						name := fmt.Sprintf("call%d-%s/%s/%s", i+1, op, f.name, mode)
						t.Run(name, func(t *testing.T) {
							run(t, w, d, faultinject.APIRule{At: i + 1, Once: once, Err: f.err})
						})
					}
				}
			}
		})
	}
}

// discover makes the decision without faults, checks it, and returns its DynamoDB calls.
func discover(t *testing.T, w *world, d decision) []string {
	t.Helper()
	a := d.setup(t, w)
	before := take(t, w)
	w.Faults.Clear()
	w.Faults.Reset()
	out := a(t.Context())
	calls := w.Faults.Calls()
	if !out.ok {
		t.Fatalf("without a fault the decision failed: %s", out.what)
	}
	dl := diff(t, d, before, take(t, w))
	if !dl.check(t, d, "without a fault", d.records) || !dl.stated(d) {
		t.Fatalf("without a fault: recorded %v, state %v; want %v recorded with its state change", dl.detailTypes(), dl.state, d.records)
	}
	verify(t, w, dl)
	t.Logf("%s makes %d DynamoDB calls: %v", d.name, len(calls), calls)
	return calls
}

// run makes the decision under rule, checks what landed and what the caller was told, then
// makes it again without the fault and checks it lands once.
func run(t *testing.T, w *world, d decision, rule faultinject.APIRule) {
	a := d.setup(t, w)
	before := take(t, w)
	w.Faults.Reset()
	w.Faults.Arm(rule)
	out := a(t.Context())
	w.Faults.Clear()
	injected := w.Faults.Injected()
	dl := diff(t, d, before, take(t, w))
	want := [][]string{d.records}
	if !out.ok && len(d.failureRecords) > 0 {
		want = append(want, d.failureRecords)
	}
	landed := dl.check(t, d, "under the fault", want...)
	switch {
	case injected == 0:
		t.Fatalf("the fault never fired (calls %v): the decision's calls are not deterministic", w.Faults.Calls())
	case d.failureReport:
		// Told of the failure either way: what landed is judged alone.
	case out.ok && !landed:
		t.Errorf("the caller was told %s, and nothing was decided (records %v, state %v)", out.what, dl.detailTypes(), dl.state)
	}
	t.Logf("under the fault (%d attempts failed): %s; landed %t", injected, out.what, landed)

	// The fault cleared: the caller tries again and the decision lands, once. When it landed
	// already, the retry may be refused (the key is revoked now) but must not record it again.
	// A repeatable decision is tried again only when its caller was told of a failure.
	if !out.ok {
		w.skew.Add(int64(d.retryAfter))
	}
	if !d.repeatable || !out.ok {
		again := a(t.Context())
		if !again.ok && !landed {
			t.Fatalf("after the fault cleared the decision failed: %s", again.what)
		}
	}
	dl = diff(t, d, before, take(t, w))
	want = [][]string{d.records}
	if len(d.failureRecords) > 0 {
		want = append(want, append(slices.Clone(d.failureRecords), d.records...))
	}
	if dl.check(t, d, "after the retry", want...); len(dl.records) == 0 || !dl.stated(d) {
		t.Errorf("after the retry: recorded %v, state %v; want %v once with its state change", dl.detailTypes(), dl.state, d.records)
	}
	verify(t, w, dl)
}

// verify checks every chain the delta recorded on.
func verify(t *testing.T, w *world, dl delta) {
	t.Helper()
	store := &outbox.Store{DB: w.DB, Table: w.Table("outbox")}
	seen := map[string]bool{}
	for _, r := range dl.records {
		if seen[r.chain] {
			continue
		}
		seen[r.chain] = true
		if err := store.VerifyChain(t.Context(), r.chain); err != nil {
			t.Errorf("chain %s: %v", r.chain, err)
		}
	}
}
