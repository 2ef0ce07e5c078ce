//go:build integration

package suite_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	dynamotypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/integration/harness"
	"github.com/lanyardhq/lanyard/local/suite"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/partnersecret"
	"github.com/lanyardhq/lanyard/shared/platform/awscalls"
	"github.com/lanyardhq/lanyard/topology"
)

// benchSuite starts the production topology for a benchmark (the rotation scheduler on real
// days: it never fires during the run), and removes the deployment when the benchmark ends.
func benchSuite(b *testing.B) (*suite.Suite, string) {
	b.Helper()
	prefix := harness.Name("bench")
	tp := topology.Lanyard()
	b.Cleanup(func() { benchCleanup(b, prefix, tp) })
	s, err := suite.Start(context.Background(), suite.Options{
		Topology: tp, Prefix: prefix, CodeDir: env.Root + "/bin/local",
		Listen: "127.0.0.1:0", XRayListen: "127.0.0.1:0",
		LocalStackURL: env.LocalStackURL, DynamoDBURL: env.DynamoDBURL,
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatalf("start the suite (run `make build-local` first): %v", err)
	}
	b.Cleanup(func() { _ = s.Close(context.Background()) })
	return s, prefix
}

// benchCleanup removes the benchmark's deployment, as `lanyard local down` does.
func benchCleanup(b *testing.B, prefix string, tp *topology.Topology) {
	b.Helper()
	down(b, prefix, tp)
}

// benchPartners onboards n sandbox partners through the front, eight at a time, and returns
// their ids.
func benchPartners(b *testing.B, s *suite.Suite, n int) []string {
	b.Helper()
	ctx := context.Background()
	client := &http.Client{}
	post := func(path string, header map[string]string, body string, sign bool) (int, []byte) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.APIURL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		if sign {
			sum := sha256.Sum256([]byte(body))
			if err := v4.NewSigner().SignHTTP(ctx, localCreds, req, hex.EncodeToString(sum[:]), "execute-api", suite.Region, time.Now()); err != nil {
				b.Error(err)
				return 0, nil
			}
		}
		resp, err := client.Do(req)
		if err != nil {
			b.Error(err)
			return 0, nil
		}
		defer func() { _ = resp.Body.Close() }()
		out, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, out
	}
	onboard := func() string {
		name := harness.Name("Rotation Bench")
		status, body := post("/v1/admin/invites", nil, fmt.Sprintf(`{"partnerName":%q,"tier":"sandbox"}`, name), true)
		var inv struct {
			InviteCode string `json:"inviteCode"`
		}
		if status != http.StatusCreated || json.Unmarshal(body, &inv) != nil {
			b.Errorf("issue an invite: %d", status)
			return ""
		}
		status, body = post("/v1/partners", map[string]string{"Idempotency-Key": harness.Name("idem")},
			fmt.Sprintf(`{"partnerName":%q,"inviteCode":%q,"scopes":["orders:read"]}`, name, inv.InviteCode), false)
		var ob struct {
			PartnerID string `json:"partnerId"`
		}
		if status != http.StatusCreated || json.Unmarshal(body, &ob) != nil {
			b.Errorf("onboard: %d", status)
			return ""
		}
		return ob.PartnerID
	}
	ids := make([]string, n)
	var wg sync.WaitGroup
	work := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range work {
				ids[i] = onboard()
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return ids
}

// benchRotate is the trigger of a rotation: RotateSecret, which LocalStack answers once it has
// run the rotation function's four steps.
func benchRotate(ctx context.Context, secretID string) error {
	_, err := env.SecretsManager.RotateSecret(ctx, &secretsmanager.RotateSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return fmt.Errorf("rotate %s: %w", secretID, err)
	}
	return nil
}

// rotatedFrom checks the secret's rotation from version before converged: AWSCURRENT moved to
// another version and no AWSPENDING is left on a version that is not AWSCURRENT (LocalStack
// answers RotateSecret with success even when a step failed). It returns the current version.
func rotatedFrom(ctx context.Context, secretID, before string) (string, error) {
	d, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", err
	}
	cur := currentVersion(d.VersionIdsToStages)
	if cur == "" || cur == before {
		return cur, fmt.Errorf("secret %s: AWSCURRENT did not move from %s", secretID, before)
	}
	for v, labels := range d.VersionIdsToStages {
		if slices.Contains(labels, partnersecret.StagePending) && !slices.Contains(labels, partnersecret.StageCurrent) {
			return cur, fmt.Errorf("secret %s: AWSPENDING stranded on version %s", secretID, v)
		}
	}
	return cur, nil
}

func currentOf(ctx context.Context, secretID string) (string, error) {
	d, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(secretID)})
	if err != nil {
		return "", err
	}
	return currentVersion(d.VersionIdsToStages), nil
}

// rawReplay replays, with the SDK and nothing else, the API calls no rotation can do without,
// on a scratch secret in LocalStack and a scratch table in DynamoDB Local:
//
//   - DescribeSecret (the guards read the secret's versions and rotation state),
//   - PutSecretValue of the new key staged AWSPENDING (createSecret),
//   - GetSecretValue of that version (the steps after createSecret read the key back),
//   - the registry transaction (finishSecret's commit: the outbox head and record, the new key
//     active, the old one previous, the one before it retired, the partner's keyId),
//   - UpdateSecretVersionStage moving AWSCURRENT to the new version (finishSecret).
//
// What the production rotation adds on top — four Lambda invocations through LocalStack's
// executor, each step's reads of the partner and its key, setSecret's registration of the
// pending key, the outbox head read — is the overhead the ratio shows.
type rawReplay struct {
	secret, table string
	current       string // the scratch secret's AWSCURRENT version
	seq           int
	keys          []string // the scratch "registry"'s key ids, oldest first
}

func newRawReplay(b *testing.B, prefix string) *rawReplay {
	b.Helper()
	ctx := context.Background()
	r := &rawReplay{table: env.CreateTable(b, "bench-raw", dynamotypes.ScalarAttributeTypeS), current: uuid.NewString()}
	out, err := env.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name: aws.String(prefix + "/bench-raw/" + harness.Name("scratch")), ClientRequestToken: aws.String(r.current),
		SecretString: aws.String(r.newKey(b)),
	})
	if err != nil {
		b.Fatalf("create the scratch secret: %v", err)
	}
	r.secret = aws.ToString(out.ARN)
	b.Cleanup(func() {
		_, _ = env.SecretsManager.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(r.secret), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	first := "k" + strconv.Itoa(r.seq)
	r.keys = append(r.keys, first)
	_, err = env.DynamoDB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []dynamotypes.TransactWriteItem{
		{Put: &dynamotypes.Put{TableName: aws.String(r.table), Item: rawItem("partner", "p", map[string]string{"keyId": first})}},
		{Put: &dynamotypes.Put{TableName: aws.String(r.table), Item: rawItem("key#"+first, "entry", map[string]string{"status": "active"})}},
		{Put: &dynamotypes.Put{TableName: aws.String(r.table), Item: rawItem("outbox", "head", map[string]string{"seq": "0"})}},
	}})
	if err != nil {
		b.Fatalf("seed the scratch table: %v", err)
	}
	return r
}

func (r *rawReplay) newKey(b *testing.B) string {
	k, err := credential.Generate(credential.EnvLocal, nil)
	if err != nil {
		b.Fatal(err)
	}
	return k.Plaintext().Reveal()
}

func rawItem(pk, sk string, attrs map[string]string) map[string]dynamotypes.AttributeValue {
	it := map[string]dynamotypes.AttributeValue{
		"pk": &dynamotypes.AttributeValueMemberS{Value: pk},
		"sk": &dynamotypes.AttributeValueMemberS{Value: sk},
	}
	for k, v := range attrs {
		it[k] = &dynamotypes.AttributeValueMemberS{Value: v}
	}
	return it
}

func rawKey(pk, sk string) map[string]dynamotypes.AttributeValue { return rawItem(pk, sk, nil) }

func rawS(v string) dynamotypes.AttributeValue { return &dynamotypes.AttributeValueMemberS{Value: v} }

// once replays one rotation's irreducible calls.
func (r *rawReplay) once(ctx context.Context, b *testing.B) {
	token := uuid.NewString()
	secretValue := r.newKey(b)
	if _, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.secret)}); err != nil {
		b.Fatalf("raw DescribeSecret: %v", err)
	}
	if _, err := env.SecretsManager.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(r.secret), ClientRequestToken: aws.String(token), SecretString: aws.String(secretValue), VersionStages: []string{partnersecret.StagePending},
	}); err != nil {
		b.Fatalf("raw PutSecretValue: %v", err)
	}
	if _, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(r.secret), VersionId: aws.String(token), VersionStage: aws.String(partnersecret.StagePending),
	}); err != nil {
		b.Fatalf("raw GetSecretValue: %v", err)
	}
	r.seq++
	next, old := "k"+strconv.Itoa(r.seq), r.keys[len(r.keys)-1]
	event := strings.Repeat("e", 600) // about a Credential Rotated record's size
	items := []dynamotypes.TransactWriteItem{
		{Update: &dynamotypes.Update{TableName: aws.String(r.table), Key: rawKey("outbox", "head"),
			UpdateExpression: aws.String("SET seq = :next"), ConditionExpression: aws.String("seq = :prev"),
			ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":next": rawS(strconv.Itoa(r.seq)), ":prev": rawS(strconv.Itoa(r.seq - 1))}}},
		{Put: &dynamotypes.Put{TableName: aws.String(r.table), Item: rawItem("outbox", "rec#"+strconv.Itoa(r.seq), map[string]string{"detail": event}),
			ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Put: &dynamotypes.Put{TableName: aws.String(r.table), Item: rawItem("key#"+next, "entry", map[string]string{"status": "active"}),
			ConditionExpression: aws.String("attribute_not_exists(pk)")}},
		{Update: &dynamotypes.Update{TableName: aws.String(r.table), Key: rawKey("key#"+old, "entry"),
			UpdateExpression: aws.String("SET #s = :previous"), ConditionExpression: aws.String("#s = :active"),
			ExpressionAttributeNames:  map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":previous": rawS("previous"), ":active": rawS("active")}}},
		{Update: &dynamotypes.Update{TableName: aws.String(r.table), Key: rawKey("partner", "p"),
			UpdateExpression: aws.String("SET keyId = :next, previousKeyId = :old"), ConditionExpression: aws.String("keyId = :old"),
			ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":next": rawS(next), ":old": rawS(old)}}},
	}
	if len(r.keys) > 1 {
		older := r.keys[len(r.keys)-2]
		items = append(items, dynamotypes.TransactWriteItem{Update: &dynamotypes.Update{TableName: aws.String(r.table), Key: rawKey("key#"+older, "entry"),
			UpdateExpression: aws.String("SET #s = :retired"), ConditionExpression: aws.String("#s = :previous"),
			ExpressionAttributeNames:  map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]dynamotypes.AttributeValue{":retired": rawS("retired"), ":previous": rawS("previous")}}})
	}
	if _, err := env.DynamoDB.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		b.Fatalf("raw TransactWriteItems: %v", err)
	}
	r.keys = append(r.keys, next)
	if _, err := env.SecretsManager.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(r.secret), VersionStage: aws.String(partnersecret.StageCurrent), MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(r.current),
	}); err != nil {
		b.Fatalf("raw UpdateSecretVersionStage: %v", err)
	}
	r.current = token
}

// templateReplay replays, with the SDK, the calls AWS's Python rotation template for a single
// secret (SecretsManagerRotationTemplate) makes in one rotation, on a scratch secret: each
// step's handler DescribeSecret (its guards), createSecret's GetSecretValue of AWSCURRENT and of
// the token's AWSPENDING version (not found yet), GetRandomPassword and PutSecretValue,
// setSecret and testSecret's nothing, and finishSecret's own DescribeSecret and the
// UpdateSecretVersionStage moving AWSCURRENT. Its calls are counted by the same middleware as
// the rotation function's: the baseline of the calls figures.
type templateReplay struct {
	secret, current string
}

func newTemplateReplay(b *testing.B, prefix string) *templateReplay {
	b.Helper()
	r := &templateReplay{current: uuid.NewString()}
	out, err := env.SecretsManager.CreateSecret(context.Background(), &secretsmanager.CreateSecretInput{
		Name: aws.String(prefix + "/bench-template/" + harness.Name("scratch")), ClientRequestToken: aws.String(r.current),
		SecretString: aws.String("first"),
	})
	if err != nil {
		b.Fatalf("create the template's scratch secret: %v", err)
	}
	r.secret = aws.ToString(out.ARN)
	b.Cleanup(func() {
		_, _ = env.SecretsManager.DeleteSecret(context.Background(), &secretsmanager.DeleteSecretInput{SecretId: aws.String(r.secret), ForceDeleteWithoutRecovery: aws.Bool(true)})
	})
	return r
}

// once replays one rotation of the template.
func (r *templateReplay) once(ctx context.Context, b *testing.B) {
	token := uuid.NewString()
	describe := func() {
		if _, err := env.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(r.secret)}); err != nil {
			b.Fatalf("template DescribeSecret: %v", err)
		}
	}
	describe() // createSecret's handler
	if _, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(r.secret), VersionStage: aws.String("AWSCURRENT")}); err != nil {
		b.Fatalf("template GetSecretValue AWSCURRENT: %v", err)
	}
	var notFound *smtypes.ResourceNotFoundException
	if _, err := env.SecretsManager.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{
		SecretId: aws.String(r.secret), VersionId: aws.String(token), VersionStage: aws.String("AWSPENDING"),
	}); !errors.As(err, &notFound) {
		b.Fatalf("template GetSecretValue AWSPENDING: %v, want ResourceNotFoundException", err)
	}
	pw, err := env.SecretsManager.GetRandomPassword(ctx, &secretsmanager.GetRandomPasswordInput{ExcludeCharacters: aws.String(`/@"'\`)})
	if err != nil {
		b.Fatalf("template GetRandomPassword: %v", err)
	}
	if _, err := env.SecretsManager.PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId: aws.String(r.secret), ClientRequestToken: aws.String(token), SecretString: pw.RandomPassword, VersionStages: []string{"AWSPENDING"},
	}); err != nil {
		b.Fatalf("template PutSecretValue: %v", err)
	}
	describe() // setSecret's handler
	describe() // testSecret's handler
	describe() // finishSecret's handler
	describe() // finish_secret's own, for the AWSCURRENT version
	if _, err := env.SecretsManager.UpdateSecretVersionStage(ctx, &secretsmanager.UpdateSecretVersionStageInput{
		SecretId: aws.String(r.secret), VersionStage: aws.String("AWSCURRENT"), MoveToVersionId: aws.String(token), RemoveFromVersionId: aws.String(r.current),
	}); err != nil {
		b.Fatalf("template UpdateSecretVersionStage: %v", err)
	}
	r.current = token
}

// BenchmarkRotation measures one full rotation through `lanyard local`: RotateSecret on a
// partner's secret, which LocalStack answers after running the production rotation function's
// four steps (createSecret, setSecret, testSecret, finishSecret), each a Lambda invocation
// through the executor. Each iteration makes one rotation of the same partner, checked to have
// converged (outside the timings), then replays the rotation's irreducible API calls raw with
// the SDK (rawReplay) on a scratch secret and table; interleaving keeps both under the same
// load. Reported: the median of each and their ratio, the overhead of doing a rotation as
// Secrets Manager's four-step rotation function over the least a rotation must call; and the
// AWS calls per rotation, in all, per service and per step, as the rotation function's
// invocations logged them (shared/platform/awscalls), next to the calls of AWS's Python rotation
// template replayed (templateReplay) and of the raw replay, counted by the same middleware.
func BenchmarkRotation(b *testing.B) {
	ctx := context.Background()
	s, prefix := benchSuite(b)
	ids := benchPartners(b, s, 1)
	secretID := partnersecret.Name(partnersecret.Prefix(prefix), ids[0])
	raw := newRawReplay(b, prefix)
	tmpl := newTemplateReplay(b, prefix)

	version, err := currentOf(ctx, secretID)
	if err != nil {
		b.Fatal(err)
	}
	rotate := func() time.Duration {
		t0 := time.Now()
		if err := benchRotate(ctx, secretID); err != nil {
			b.Fatal(err)
		}
		d := time.Since(t0)
		if version, err = rotatedFrom(ctx, secretID, version); err != nil {
			b.Fatal(err)
		}
		return d
	}
	var rawCalls, templateCalls int
	replay := func() time.Duration {
		tctx, tally := awscalls.WithTally(ctx)
		t0 := time.Now()
		raw.once(tctx, b)
		d := time.Since(t0)
		rawCalls += tally.Total()
		return d
	}
	// Warm the function's execution environment and the connections of both paths.
	for range 2 {
		rotate()
		replay()
	}

	var full, bare []time.Duration
	rawCalls = 0
	since := time.Now()
	timed := map[string]bool{} // the versions the timed rotations made current: their tokens
	for b.Loop() {
		full = append(full, rotate())
		timed[version] = true
		bare = append(bare, replay())
		tctx, tally := awscalls.WithTally(ctx)
		tmpl.once(tctx, b) // outside the medians: it is counted, not timed
		templateCalls += tally.Total()
	}
	med := func(d []time.Duration) float64 {
		sorted := slices.Clone(d)
		slices.Sort(sorted)
		return float64(sorted[len(sorted)/2].Microseconds()) / 1000
	}
	f, r := med(full), med(bare)
	b.ReportMetric(f, "rotation-median-ms")
	b.ReportMetric(r, "raw-calls-median-ms")
	b.ReportMetric(f/r, "rotation/raw")

	// The calls: every step of every rotation of the loop logged its line, with the rotation's
	// token (the log's timestamps are LocalStack's, so the lines are told by token, not time).
	rotations := float64(len(full))
	steps := waitCalls(b, s.Provisioned.Functions["rotation"], since.Add(-time.Minute), 4*len(full), func(c invocationCalls) bool {
		_, ok := c.fields["step"].(string)
		v, _ := c.fields["version"].(string)
		return ok && timed[v]
	})
	var total, sm, ddb float64
	perStep := map[string]float64{}
	seen := map[string]int{}
	for _, c := range steps {
		seen[c.fields["step"].(string)+": "+strings.Join(c.sequence, " ")]++
		total += float64(c.total)
		sm += float64(c.service("Secrets Manager"))
		ddb += float64(c.service("DynamoDB"))
		perStep[c.fields["step"].(string)] += float64(c.total)
	}
	for _, k := range slices.Sorted(maps.Keys(seen)) {
		b.Logf("%d× %s", seen[k], k)
	}
	b.ReportMetric(total/rotations, "aws-calls/rotation")
	b.ReportMetric(sm/rotations, "sm-calls/rotation")
	b.ReportMetric(ddb/rotations, "ddb-calls/rotation")
	for _, step := range []string{events.StepCreateSecret, events.StepSetSecret, events.StepTestSecret, events.StepFinishSecret} {
		b.ReportMetric(perStep[step]/rotations, step+"-calls/rotation")
	}
	b.ReportMetric(float64(templateCalls)/rotations, "template-calls/rotation")
	b.ReportMetric(float64(rawCalls)/rotations, "raw-calls/rotation")
	b.ReportMetric(total/float64(templateCalls), "calls/template-calls")
}

// throughputPartners is how many partners BenchmarkRotationThroughput rotates.
const throughputPartners = 50

// BenchmarkRotationThroughput measures rotations per minute across 50 partners through
// `lanyard local`: the partners are onboarded once, outside the timings; then each iteration
// rotates the next partner's secret (round robin: with -benchtime 50x, every partner once) with
// RotateSecret, which LocalStack answers after the production function's four steps. Two
// sub-benchmarks: "sequential", one rotation after the other, and "8-workers", the iterations
// shared by 8 goroutines. Every rotation is checked to have converged after the timed part.
// Reported: rotations/min (b.N over the wall time); ns/op is the wall time per rotation.
func BenchmarkRotationThroughput(b *testing.B) {
	ctx := context.Background()
	s, prefix := benchSuite(b)
	ids := benchPartners(b, s, throughputPartners)
	secrets := make([]string, len(ids))
	for i, id := range ids {
		secrets[i] = partnersecret.Name(partnersecret.Prefix(prefix), id)
	}
	// Warm the rotation function once, on a partner of its own.
	if err := benchRotate(ctx, partnersecret.Name(partnersecret.Prefix(prefix), benchPartners(b, s, 1)[0])); err != nil {
		b.Fatal(err)
	}
	next := 0 // the partner the next rotation is for, across both sub-benchmarks

	// versions reads every partner's current version.
	versions := func(b *testing.B) []string {
		out := make([]string, len(secrets))
		for i, id := range secrets {
			v, err := currentOf(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			out[i] = v
		}
		return out
	}
	// check fails the benchmark unless every rotation succeeded and every partner rotated
	// converged: AWSCURRENT moved from its version before, no AWSPENDING stranded.
	check := func(b *testing.B, before []string, rotated map[int]bool, errs []error) {
		var failed []string
		for _, err := range errs {
			if err != nil {
				failed = append(failed, err.Error())
			}
		}
		for i := range rotated {
			if _, err := rotatedFrom(ctx, secrets[i], before[i]); err != nil {
				failed = append(failed, err.Error())
			}
		}
		if len(failed) > 0 {
			b.Fatalf("%d rotations did not converge: %s", len(failed), strings.Join(failed, "; "))
		}
	}
	perMinute := func(b *testing.B, d time.Duration) {
		b.ReportMetric(float64(b.N)/d.Minutes(), "rotations/min")
	}

	b.Run("sequential", func(b *testing.B) {
		before := versions(b)
		rotated := map[int]bool{}
		var errs []error
		t0 := time.Now()
		for b.Loop() {
			errs = append(errs, benchRotate(ctx, secrets[next]))
			rotated[next] = true
			next = (next + 1) % len(secrets)
		}
		perMinute(b, time.Since(t0))
		check(b, before, rotated, errs)
	})
	b.Run("8-workers", func(b *testing.B) {
		before := versions(b)
		rotated := map[int]bool{}
		jobs := make([]int, b.N)
		for k := range jobs {
			jobs[k] = (next + k) % len(secrets)
			rotated[jobs[k]] = true
		}
		next = (next + b.N) % len(secrets)
		errs := make([]error, b.N)
		work := make(chan int)
		var wg sync.WaitGroup
		b.ResetTimer()
		t0 := time.Now()
		for range 8 {
			wg.Go(func() {
				for k := range work {
					errs[k] = benchRotate(ctx, secrets[jobs[k]])
				}
			})
		}
		for k := range jobs {
			work <- k
		}
		close(work)
		wg.Wait()
		d := time.Since(t0)
		b.StopTimer()
		perMinute(b, d)
		check(b, before, rotated, errs)
	})
}
