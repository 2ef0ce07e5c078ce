package authorizer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
	"github.com/lanyardhq/lanyard/topology"
)

// The API the tests authorize for: stage "v1" of API abcdef1234.
const (
	stageARN  = "arn:aws:execute-api:eu-west-1:123456789012:abcdef1234/v1"
	partnerID = "p-abcdefghijklmnopqrstuvwxyz"
)

var epoch = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testRoutes has scope-less and scoped partner-key routes, path parameters (one greedy), and
// routes the authorizer must never grant (open, IAM).
var testRoutes = []topology.Route{
	{Method: "GET", Path: "/v1/health", Function: "healthcheck", Auth: topology.AuthNone},
	{Method: "POST", Path: "/v1/admin/invites", Function: "invites", Auth: topology.AuthIAM},
	{Method: "GET", Path: "/v1/partners/me", Function: "partners", Auth: topology.AuthPartnerKey},
	{Method: "GET", Path: "/v1/orders/{orderId}", Function: "orders", Auth: topology.AuthPartnerKey, Scope: "orders:read"},
	{Method: "POST", Path: "/v1/orders", Function: "orders", Auth: topology.AuthPartnerKey, Scope: "orders:write"},
	{Method: "GET", Path: "/v1/shipments/{shipmentId}/events/{proxy+}", Function: "shipments", Auth: topology.AuthPartnerKey, Scope: "shipments:read"},
}

// fakeLookup is an in-memory registry that counts its reads.
type fakeLookup struct {
	mu      sync.Mutex
	entries map[credential.KeyID]registry.Entry
	err     error
	calls   int
}

func (f *fakeLookup) Get(_ context.Context, id credential.KeyID) (registry.Entry, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return registry.Entry{}, f.err
	}
	e, ok := f.entries[id]
	if !ok {
		return registry.Entry{}, registry.ErrNotFound
	}
	return e, nil
}

func (f *fakeLookup) put(e registry.Entry) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.entries == nil {
		f.entries = map[credential.KeyID]registry.Entry{}
	}
	f.entries[e.KeyID] = e
}

func (f *fakeLookup) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// clock is a settable Now.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// lockedBuffer collects log lines from concurrent decisions.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines decodes every JSON log line.
func (b *lockedBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for line := range strings.SplitSeq(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %v", err)
		}
		out = append(out, m)
	}
	return out
}

// fixture is an authorizer over a fake registry, a settable clock and a captured log.
type fixture struct {
	a      *authorizer.Authorizer
	lookup *fakeLookup
	clock  *clock
	logs   *lockedBuffer
}

func newFixture(routes []topology.Route) *fixture {
	f := &fixture{lookup: &fakeLookup{}, clock: &clock{now: epoch}, logs: &lockedBuffer{}}
	f.a = &authorizer.Authorizer{
		Lookup:      f.lookup,
		Routes:      topology.PartnerKeyRoutes(routes),
		KeyCacheTTL: 30 * time.Second,
		Environment: credential.EnvLocal,
		Now:         f.clock.Now,
		Logger:      logging.NewJSON(f.logs, slog.LevelDebug),
	}
	return f
}

func generate(t testing.TB, env credential.Environment) credential.Key {
	t.Helper()
	k, err := credential.Generate(env, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// entryFor is an active entry for k valid from an hour before epoch for 90 days.
func entryFor(k credential.Key, scopes ...string) registry.Entry {
	return registry.Entry{
		KeyID:           k.ID(),
		PartnerID:       partnerID,
		Verifier:        credential.NewVerifier(k),
		Scopes:          scopes,
		Tier:            "standard",
		Status:          registry.StatusActive,
		NotBefore:       epoch.Add(-time.Hour),
		NotAfter:        epoch.Add(90 * 24 * time.Hour),
		SecretARN:       "arn:aws:secretsmanager:eu-west-1:123456789012:secret:lanyard/partners/" + partnerID,
		SecretVersionID: "0b6a4a4e-6f4f-4c62-9a53-4f0d3b1e3f10",
		CreatedAt:       epoch.Add(-time.Hour),
	}
}

// request is the event API Gateway sends for GET /v1/partners/me with the given headers.
func request(headers map[string]string) lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest {
	return lambdaevents.APIGatewayCustomAuthorizerRequestTypeRequest{
		Type:       "REQUEST",
		MethodArn:  stageARN + "/GET/v1/partners/me",
		Resource:   "/v1/partners/me",
		Path:       "/v1/partners/me",
		HTTPMethod: "GET",
		Headers:    headers,
	}
}

func bearer(k credential.Key) map[string]string {
	return map[string]string{"Authorization": "Bearer " + k.Plaintext().Reveal()}
}

// corrupt changes one character of the key's secret part: the checksum no longer matches.
func corrupt(s string) string {
	b := []byte(s)
	if b[40] == 'A' {
		b[40] = 'B'
	} else {
		b[40] = 'A'
	}
	return string(b)
}

// forge returns a well-formed key (right checksum) with k's id and another secret: what someone
// who knows a key id but not its secret would send.
func forge(t testing.TB, k credential.Key) string {
	t.Helper()
	const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	other := generate(t, k.Env()).Plaintext().Reveal()
	body := k.Plaintext().Reveal()[:32] + other[32:64]
	crc := crc32.ChecksumIEEE([]byte(body))
	sum := make([]byte, 6)
	for i := 5; i >= 0; i-- {
		sum[i] = base62[crc%62]
		crc /= 62
	}
	forged := body + string(sum)
	p, err := credential.Parse(forged)
	if err != nil || p.ID() != k.ID() {
		t.Fatalf("forged key does not parse as key %s: %v", k.ID(), err)
	}
	return forged
}

// methodARN is the method ARN of a call of method on path (a concrete path, no parameters).
func methodARN(method, path string) string { return stageARN + "/" + method + path }

// concretePath fills a route's path parameters with values, greedy ones with slashes.
func concretePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch {
		case strings.HasSuffix(s, "+}"):
			segs[i] = "a/b/c"
		case strings.HasPrefix(s, "{"):
			segs[i] = "id-42"
		}
	}
	return strings.Join(segs, "/")
}

// wildcardMatch matches IAM's resource wildcards as API Gateway (and lanyard local's front,
// local/front/policy.go) evaluate them: * is any run of characters, slashes included, ? any
// one character.
func wildcardMatch(pattern, value string) bool {
	if pattern == "" {
		return value == ""
	}
	switch pattern[0] {
	case '*':
		for i := 0; i <= len(value); i++ {
			if wildcardMatch(pattern[1:], value[i:]) {
				return true
			}
		}
		return false
	case '?':
		return value != "" && wildcardMatch(pattern[1:], value[1:])
	}
	return value != "" && pattern[0] == value[0] && wildcardMatch(pattern[1:], value[1:])
}

// evaluate is IAM's verdict of a policy on a method ARN: an explicit Deny wins, then an Allow.
func evaluate(p lambdaevents.APIGatewayCustomAuthorizerPolicy, arn string) string {
	verdict := "implicit-deny"
	for _, s := range p.Statement {
		if len(s.Action) != 1 || s.Action[0] != authorizer.InvokeAction {
			continue
		}
		for _, r := range s.Resource {
			if wildcardMatch(r, arn) {
				if s.Effect == "Deny" {
					return "deny"
				}
				verdict = "allow"
			}
		}
	}
	return verdict
}

func isUnauthorized(err error) bool {
	return err != nil && errors.Is(err, authorizer.ErrUnauthorized) && err.Error() == "Unauthorized"
}
