package policy_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
)

var account = func(id any, tier string) map[string]any {
	return map[string]any{"accountId": id, "principals": []any{fmt.Sprintf("arn:aws:iam::%v:role/lanyard-onboarding", id)}, "tier": tier, "description": "Acme Logistics, agreement 42"}
}

// accountAdmitting is an allow-list entry of account 444455556666 admitting principals.
func accountAdmitting(principals ...any) map[string]any {
	if principals == nil {
		principals = []any{}
	}
	return map[string]any{"accountId": "444455556666", "principals": principals, "tier": "standard", "description": "Acme Logistics, agreement 42"}
}

// Each broken policy is a small change to the production one, refused with a line naming
// the field by JSON pointer.
func TestParseRefusesBrokenPolicies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edits []edit
		want  string // a line of the error starts with this
	}{
		// The file's shape (schema).
		{"unknown top-level field", []edit{set("/owner", "ops")}, "/owner: unknown field, not allowed"},
		{"unknown tier field", []edit{set("/tiers/1/colour", "blue")}, "/tiers/1/colour: unknown field, not allowed"},
		{"unknown rotation field", []edit{set("/tiers/1/rotation/cron", "rate(30 days)")}, "/tiers/1/rotation/cron: unknown field, not allowed"},
		{"wrong type: burst as string", []edit{set("/tiers/1/throttle/burstLimit", "100")}, "/tiers/1/throttle/burstLimit: got string, want integer"},
		{"wrong type: fractional revision", []edit{set("/revision", 1.5)}, "/revision: got number, want integer"},
		{"wrong type: approval as string", []edit{set("/tiers/2/approvalRequired", "yes")}, "/tiers/2/approvalRequired: got string, want boolean"},
		{"unsupported version", []edit{set("/version", 2)}, "/version: "},
		{"revision zero", []edit{set("/revision", 0)}, "/revision: minimum"},
		{"approval flag missing", []edit{del("/tiers/2/approvalRequired")}, "/tiers/2/approvalRequired: required field missing"},
		{"rotation missing", []edit{del("/tiers/0/rotation")}, "/tiers/0/rotation: required field missing"},
		{"authorizer missing", []edit{del("/authorizer")}, "/authorizer: required field missing"},
		{"anomaly global limit missing", []edit{del("/anomalies/tokenExchange/global")}, "/anomalies/tokenExchange/global: required field missing"},
		{"no tiers", []edit{set("/tiers", []any{})}, "/tiers: minItems"},
		{"tier allows no scope", []edit{set("/tiers/0/scopes", []any{})}, "/tiers/0/scopes: minItems"},

		// Durations.
		{"duration in days", []edit{set("/tiers/1/keyLifetime", "90d")}, `/tiers/1/keyLifetime: "90d" is not a duration`},
		{"fractional duration", []edit{set("/tiers/1/rotation/graceWindow", "1.5h")}, `/tiers/1/rotation/graceWindow: "1.5h" is not a duration`},
		{"duration with zero part", []edit{set("/tiers/1/rotation/drainWindow", "1h0m")}, `/tiers/1/rotation/drainWindow: "1h0m" is not a duration`},
		{"duration out of order", []edit{set("/anomalies/issuance/global/window", "30m1h")}, `/anomalies/issuance/global/window: "30m1h" is not a duration`},
		{"negative duration", []edit{set("/authorizer/cacheTtl", "-5m")}, `/authorizer/cacheTtl: "-5m" is not a duration`},
		{"duration as number", []edit{set("/tiers/0/keyLifetime", 720)}, "/tiers/0/keyLifetime: got number, want string"},
		{"zero drain window", []edit{set("/tiers/1/rotation/drainWindow", "0s")}, "/tiers/1/rotation/drainWindow: must be longer than 0s"},

		// The refusal window: from a minute to an hour, on the clock's minutes.
		{"audit missing", []edit{del("/audit")}, "/audit: required field missing"},
		{"refusal window missing", []edit{del("/audit/refusalWindow")}, "/audit/refusalWindow: required field missing"},
		{"refusal window under a minute", []edit{set("/audit/refusalWindow", "30s")}, "/audit/refusalWindow: 30s is not whole minutes from 1m to 1h"},
		{"refusal window over an hour", []edit{set("/audit/refusalWindow", "2h")}, "/audit/refusalWindow: 2h is not whole minutes from 1m to 1h"},
		{"refusal window not dividing an hour", []edit{set("/audit/refusalWindow", "7m")}, "/audit/refusalWindow: 7m is not whole minutes from 1m to 1h dividing an hour evenly"},
		{"refusal window of part of a minute", []edit{set("/audit/refusalWindow", "1m30s")}, "/audit/refusalWindow: 1m30s is not whole minutes from 1m to 1h dividing an hour evenly"},
		{"export window missing", []edit{del("/audit/exportWindow")}, "/audit/exportWindow: required field missing"},
		{"export window under a minute", []edit{set("/audit/exportWindow", "30s")}, "/audit/exportWindow: 30s is not whole minutes from 1m to 24h dividing a day evenly"},
		{"export window not dividing a day", []edit{set("/audit/exportWindow", "7m")}, "/audit/exportWindow: 7m is not whole minutes"},
		{"export delay over an hour", []edit{set("/audit/exportDelay", "2h")}, "/audit/exportDelay: 2h is outside 0s to 1h"},
		{"export retention of no day", []edit{set("/audit/exportRetentionDays", 0)}, "/audit/exportRetentionDays: "},

		// The onboarding replay window: minutes, not hours.
		{"onboarding missing", []edit{del("/onboarding")}, "/onboarding: required field missing"},
		{"replay window missing", []edit{del("/onboarding/replayWindow")}, "/onboarding/replayWindow: required field missing"},
		{"unknown onboarding field", []edit{set("/onboarding/replayKeyFor", "24h")}, "/onboarding/replayKeyFor: unknown field, not allowed"},
		{"zero replay window", []edit{set("/onboarding/replayWindow", "0s")}, "/onboarding/replayWindow: 0s is outside 1s to 1h"},
		{"replay window of a day", []edit{set("/onboarding/replayWindow", "24h")}, "/onboarding/replayWindow: 24h is outside 1s to 1h"},
		{"replay window just over an hour", []edit{set("/onboarding/replayWindow", "1h1s")}, "/onboarding/replayWindow: 1h1s is outside 1s to 1h"},
		{"negative replay window", []edit{set("/onboarding/replayWindow", "-10m")}, `/onboarding/replayWindow: "-10m" is not a duration`},
		// The revocation budget outlasts the key cache the gateway enforcer waits out.
		{"revocation missing", []edit{del("/revocation")}, "/revocation: required field missing"},
		{"revocation budget missing", []edit{del("/revocation/budget")}, "/revocation/budget: required field missing"},
		{"revocation budget within the key cache", []edit{set("/authorizer/keyCacheTtl", "30s"), set("/revocation/budget", "30s")}, "/revocation/budget: 30s is outside (/authorizer/keyCacheTtl 30s, 1h]"},
		{"revocation budget over an hour", []edit{set("/revocation/budget", "2h")}, "/revocation/budget: 2h is outside"},
		{"zero revocation budget", []edit{set("/revocation/budget", "0s")}, "/revocation/budget: 0s is outside"},
		// The secret's recovery window is Secrets Manager's: whole days, 7 to 30.
		{"audit missing", []edit{del("/audit")}, "/audit: required field missing"},
		{"writer lag budget missing", []edit{del("/audit/writerLagBudget")}, "/audit/writerLagBudget: required field missing"},
		{"writer lag budget under a minute", []edit{set("/audit/writerLagBudget", "30s")}, "/audit/writerLagBudget: 30s is outside 1m to 1h"},
		{"writer lag budget over an hour", []edit{set("/audit/writerLagBudget", "2h")}, "/audit/writerLagBudget: 2h is outside 1m to 1h"},
		{"recovery window missing", []edit{del("/revocation/secretRecoveryWindow")}, "/revocation/secretRecoveryWindow: required field missing"},
		{"recovery window under a week", []edit{set("/revocation/secretRecoveryWindow", "144h")}, "/revocation/secretRecoveryWindow: 144h is not whole days from 168h to 720h"},
		{"recovery window over 30 days", []edit{set("/revocation/secretRecoveryWindow", "744h")}, "/revocation/secretRecoveryWindow: 744h is not whole days"},
		{"recovery window of part of a day", []edit{set("/revocation/secretRecoveryWindow", "200h")}, "/revocation/secretRecoveryWindow: 200h is not whole days"},

		// The audit log's retention is one CloudWatch Logs allows.
		{"audit missing", []edit{del("/audit")}, "/audit: required field missing"},
		{"retention CloudWatch does not allow", []edit{set("/audit/retentionDays", 42)}, "/audit/retentionDays: "},
		{"retention that never ends", []edit{set("/audit/retentionDays", 0)}, "/audit/retentionDays: "},

		// Windows against each other and against the authorizer.
		{"drain shorter than the authorizer's caches", []edit{set("/authorizer/keyCacheTtl", "30s"), set("/tiers/1/rotation/drainWindow", "5m")},
			"/tiers/1/rotation/drainWindow: tier standard: 5m is shorter than the authorizer's caches, /authorizer/cacheTtl 5m + /authorizer/keyCacheTtl 30s = 5m30s"},
		{"authorizer cache outlives a drain", []edit{set("/authorizer/cacheTtl", "20m")},
			"/tiers/0/rotation/drainWindow: tier sandbox: 15m is shorter than the authorizer's caches"},
		{"drain longer than grace", []edit{set("/tiers/0/rotation/drainWindow", "25h")},
			"/tiers/0/rotation/drainWindow: tier sandbox: 25h is longer than the grace window 24h"},
		{"authorizer cache over API Gateway's hour", []edit{set("/authorizer/cacheTtl", "2h")}, "/authorizer/cacheTtl: 2h is outside 0s to 1h"},
		{"key cache too long", []edit{set("/authorizer/keyCacheTtl", "10m")}, "/authorizer/keyCacheTtl: 10m is outside 0s to 5m"},
		{"rotation interval zero", []edit{set("/tiers/1/rotation/intervalDays", 0)}, "/tiers/1/rotation/intervalDays: minimum: got 0, want 1 or more"},
		{"rotation interval over 1000 days", []edit{set("/tiers/1/rotation/intervalDays", 1001)}, "/tiers/1/rotation/intervalDays: maximum: got 1001, want 1000 or less"},
		{"rotation interval as cron", []edit{set("/tiers/1/rotation/intervalDays", "cron(0 4 1 * ? *)")}, "/tiers/1/rotation/intervalDays: got string, want integer"},
		{"rotation interval not shorter than key lifetime", []edit{set("/tiers/0/rotation/intervalDays", 30)},
			"/tiers/0/rotation/intervalDays: tier sandbox rotates every 30 days (720h) but keys live only 720h"},
		{"key lifetime shorter than interval plus grace", []edit{set("/tiers/1/keyLifetime", "800h")},
			"/tiers/1/keyLifetime: tier standard: 800h is shorter than the rotation interval (30 days) plus the grace window (168h), 888h"},
		{"grace not shorter than rotation interval", []edit{set("/tiers/0/rotation/graceWindow", "168h"), set("/tiers/0/keyLifetime", "2160h")},
			"/tiers/0/rotation/graceWindow: tier sandbox: 168h is not shorter than the rotation interval (7 days)"},
		{"warning not before grace ends", []edit{set("/tiers/0/rotation/warnBeforeGraceEnds", "24h")},
			"/tiers/0/rotation/warnBeforeGraceEnds: tier sandbox: 24h is not shorter than the grace window 24h"},
		{"session shorter than STS allows", []edit{set("/tiers/0/tokenExchange/sessionDuration", "10m")},
			"/tiers/0/tokenExchange/sessionDuration: 10m is outside 15m to 1h"},
		{"session longer than role chaining allows", []edit{set("/tiers/2/tokenExchange/sessionDuration", "2h")},
			"/tiers/2/tokenExchange/sessionDuration: 2h is outside 15m to 1h"},

		// Throttling and anomaly limits.
		{"zero rate", []edit{set("/tiers/0/throttle/rateLimit", 0)}, "/tiers/0/throttle/rateLimit: exclusiveMinimum: got 0, want more than 0"},
		{"zero burst", []edit{set("/tiers/0/throttle/burstLimit", 0)}, "/tiers/0/throttle/burstLimit: minimum"},
		{"anomaly count zero", []edit{set("/anomalies/failedVerification/perPartner/count", 0)}, "/anomalies/failedVerification/perPartner/count: minimum"},
		{"anomaly window over a day", []edit{set("/anomalies/issuance/global/window", "48h")}, "/anomalies/issuance/global/window: 48h is outside 1s to 24h"},

		// Scopes and tiers.
		{"scope with capitals", []edit{set("/tiers/1/scopes/0", "Inventory:Read")}, `/tiers/1/scopes/0: "Inventory:Read" is not a scope`},
		{"scope of one segment", []edit{set("/tiers/1/scopes/0", "orders")}, `/tiers/1/scopes/0: "orders" is not a scope`},
		{"scope with a space", []edit{set("/scopes/0/name", "inventory read")}, `/scopes/0/name: "inventory read" is not a scope`},
		{"scope with empty segment", []edit{set("/scopes/0/name", "inventory::read")}, `/scopes/0/name: "inventory::read" is not a scope`},
		{"duplicate scope in a tier", []edit{set("/tiers/1/scopes/-", "orders:read")}, "/tiers/1/scopes/4: duplicate of item 1"},
		{"scope declared twice", []edit{set("/scopes/1/name", "inventory:read")}, "/scopes/1/name: scope inventory:read declared twice"},
		{"tier scope not declared", []edit{set("/tiers/1/scopes/-", "orders:delete")}, "/tiers/1/scopes/4: scope orders:delete of tier standard is not declared in /scopes"},
		{"tier declared twice", []edit{set("/tiers/2/name", "standard")}, "/tiers/2/name: tier standard declared twice"},
		{"tier name with capitals", []edit{set("/tiers/0/name", "Sandbox")}, `/tiers/0/name: "Sandbox" is not a tier name`},

		// The account allow-list.
		{"allow-list names an unknown tier", []edit{set("/accounts", []any{}), set("/accounts/-", account("123456789012", "gold"))}, `/accounts/0/tier: tier "gold" is not declared in /tiers`},
		{"account id of 11 digits", []edit{set("/accounts", []any{}), set("/accounts/-", account("12345678901", "standard"))}, `/accounts/0/accountId: "12345678901" is not a 12-digit AWS account id`},
		{"account id as number", []edit{set("/accounts", []any{}), set("/accounts/-", account(123456789012, "standard"))}, "/accounts/0/accountId: got number, want string"},
		{"account listed twice", []edit{set("/accounts", []any{}), set("/accounts/-", account("123456789012", "standard")), set("/accounts/-", account("123456789012", "premium"))},
			"/accounts/1/accountId: account 123456789012 listed twice"},
		{"account without description", []edit{set("/accounts", []any{}), set("/accounts/-", map[string]any{"accountId": "123456789012", "principals": []any{"arn:aws:iam::123456789012:role/x"}, "tier": "standard"})},
			"/accounts/0/description: required field missing"},

		// The principals an entry admits.
		{"account without principals", []edit{set("/accounts/-", map[string]any{"accountId": "444455556666", "tier": "standard", "description": "x"})},
			"/accounts/0/principals: required field missing"},
		{"no principal", []edit{set("/accounts/-", accountAdmitting())}, "/accounts/0/principals: minItems"},
		{"principal repeated", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:role/a", "arn:aws:iam::444455556666:role/a"))},
			"/accounts/0/principals/1: duplicate of item 0"},
		{"principal not an ARN", []edit{set("/accounts/-", accountAdmitting("lanyard-onboarding"))},
			`/accounts/0/principals/0: "lanyard-onboarding" is not a principal ARN pattern`},
		{"root", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:root"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:root" is the account's root user, which is never admitted`},
		{"another account", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::999988887777:role/a"))},
			`/accounts/0/principals/0: "arn:aws:iam::999988887777:role/a" names account 999988887777, not this entry's 444455556666`},
		{"any account", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::*:role/a"))},
			`/accounts/0/principals/0: "arn:aws:iam::*:role/a" does not name one 12-digit account`},
		{"unknown partition", []edit{set("/accounts/-", accountAdmitting("arn:aws-iso:iam::444455556666:role/a"))},
			`/accounts/0/principals/0: "arn:aws-iso:iam::444455556666:role/a" names partition "aws-iso"`},
		{"role path", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:role/partners/*"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:role/partners/*" names a role path`},
		{"every role", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:role/*"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:role/*" admits every role of the account`},
		{"every user", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:user/*"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:user/*": a user wildcard is a whole path`},
		{"user name prefix", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:user/partners/bo*"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:user/partners/bo*": a user wildcard is a whole path`},
		{"wildcard inside", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:role/a*b"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:role/a*b" has a "*" that is not its last character`},
		{"assumed-role ARN", []edit{set("/accounts/-", accountAdmitting("arn:aws:sts::444455556666:assumed-role/a/s"))},
			`/accounts/0/principals/0: "arn:aws:sts::444455556666:assumed-role/a/s" is an STS ARN: name the role itself`},
		{"federated user", []edit{set("/accounts/-", accountAdmitting("arn:aws:sts::444455556666:federated-user/bob"))},
			`/accounts/0/principals/0: "arn:aws:sts::444455556666:federated-user/bob" is an STS ARN`},
		{"group", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:group/partners"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:group/partners" is neither a role nor a user`},
		{"role name with a space", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:role/a b"))},
			`/accounts/0/principals/0: "arn:aws:iam::444455556666:role/a b" is not a principal ARN pattern`},
		{"role name too long", []edit{set("/accounts/-", accountAdmitting("arn:aws:iam::444455556666:role/"+strings.Repeat("r", 65)))},
			"/accounts/0/principals/0: \"arn:aws:iam::444455556666:role/" + strings.Repeat("r", 65) + "\": the role name is not 1 to 64"},
		{"too many principals", []edit{set("/accounts/-", accountAdmitting(func() []any {
			var ps []any
			for i := range 21 {
				ps = append(ps, fmt.Sprintf("arn:aws:iam::444455556666:role/r%d", i))
			}
			return ps
		}()...))}, "/accounts/0/principals: maxItems"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := problems(t, apply(t, production(t), tt.edits...))
			found := false
			for _, l := range lines {
				if !strings.HasPrefix(l, "/") {
					t.Errorf("line does not start with a JSON pointer: %q", l)
				}
				found = found || strings.HasPrefix(l, tt.want)
			}
			if !found {
				t.Errorf("no line starts with\n  %s\ngot\n  %s", tt.want, strings.Join(lines, "\n  "))
			}
		})
	}
}

// Raw files the JSON document edits cannot produce.
func TestParseRefusesMalformedFiles(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, file, want string }{
		{"not JSON", "{\n  \"version\": 1,\n  oops\n}", "/: not valid JSON: line 3, column 3: invalid character 'o'"},
		{"trailing data", `{"version": 1} {}`, "/: not valid JSON"},
		{"empty", ``, "/: not valid JSON"},
		{"an array", `[]`, "/: got array, want object"},
		{"repeated key", strings.Replace(string(apply(t, production(t))), `"$schema": "./policy.schema.json",`, `"$schema": "./policy.schema.json", "$schema": "x",`, 1),
			"/$schema: key repeated in one object"},
		{"repeated key in a tier", strings.Replace(string(apply(t, production(t))), `"approvalRequired": false,`, `"approvalRequired": false, "approvalRequired": true,`, 1),
			"/tiers/0/approvalRequired: key repeated in one object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			lines := problems(t, []byte(tt.file))
			for _, l := range lines {
				if strings.HasPrefix(l, tt.want) {
					return
				}
			}
			t.Errorf("no line starts with\n  %s\ngot\n  %s", tt.want, strings.Join(lines, "\n  "))
		})
	}
}

// Every problem is reported, one per line, sorted by pointer: not just the first.
func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	schema := problems(t, apply(t, production(t),
		set("/owner", "ops"),
		del("/tiers/2/approvalRequired"),
		set("/tiers/0/keyLifetime", "30d"),
	))
	want := []string{
		"/owner: unknown field, not allowed",
		`/tiers/0/keyLifetime: "30d" is not a duration`,
		"/tiers/2/approvalRequired: required field missing",
	}
	checkLines(t, schema, want)

	semantic := problems(t, apply(t, production(t),
		set("/tiers/1/rotation/drainWindow", "1m"),
		set("/tiers/2/name", "standard"),
		set("/accounts", []any{}),
		set("/accounts/-", account("123456789012", "gold")),
	))
	want = []string{
		`/accounts/0/tier: tier "gold" is not declared in /tiers`,
		"/tiers/1/rotation/drainWindow: tier standard: 1m is shorter than the authorizer's caches",
		"/tiers/2/name: tier standard declared twice",
	}
	checkLines(t, semantic, want)
}

func checkLines(t *testing.T, got, wantPrefixes []string) {
	t.Helper()
	if len(got) != len(wantPrefixes) {
		t.Fatalf("got %d problems, want %d:\n  %s", len(got), len(wantPrefixes), strings.Join(got, "\n  "))
	}
	for i := range got {
		if !strings.HasPrefix(got[i], wantPrefixes[i]) {
			t.Errorf("problem %d:\n  got  %s\n  want %s…", i, got[i], wantPrefixes[i])
		}
	}
}

// A tier may leave token exchange out; it gets 15 minutes.
func TestParseDefaultsSessionDuration(t *testing.T) {
	t.Parallel()
	p := mustParse(t, apply(t, production(t), del("/tiers/0/tokenExchange"), set("/tiers/1/tokenExchange", map[string]any{})))
	for _, name := range []string{"sandbox", "standard"} {
		tier, _ := p.Tier(name)
		if got := tier.TokenExchange.SessionDuration; got != policy.DefaultSessionDuration {
			t.Errorf("%s: session duration %s, want %s", name, got, policy.DefaultSessionDuration)
		}
	}
}

// A policy built in Go is held to the same rules by Validate.
func TestValidateChecksPoliciesBuiltInGo(t *testing.T) {
	t.Parallel()
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatalf("production policy: %v", err)
	}
	p.Tiers[0].Scopes = append(p.Tiers[0].Scopes, "Bad Scope", "orders:read")
	p.Tiers[1].Rotation.IntervalDays = 0
	p.Tiers[1].TokenExchange.SessionDuration = 0
	p.Accounts = append(p.Accounts[:0], policy.Account{AccountID: "12-34", Tier: "standard", Description: "x"},
		policy.Account{AccountID: "444455556666", Principals: []string{"arn:aws:iam::444455556666:root", "role/x"}, Tier: "standard", Description: "x"})
	p.Authorizer.KeyCacheTTL = -1
	p.Anomalies.Issuance.Global = policy.Limit{}
	lines := strings.Split(p.Validate().Error(), "\n")
	checkLines(t, lines, []string{
		`/accounts/0/accountId: "12-34" is not a 12-digit AWS account id`,
		"/accounts/0/principals: names no principal",
		`/accounts/1/principals/0: "arn:aws:iam::444455556666:root" is the account's root user`,
		`/accounts/1/principals/1: "role/x" is not a principal ARN pattern`,
		"/anomalies/issuance/global/count: must be 1 or more, got 0",
		"/anomalies/issuance/global/window: 0s is outside 1s to 24h",
		"/authorizer/keyCacheTtl: ",
		`/tiers/0/scopes/2: "Bad Scope" is not a scope`,
		"/tiers/0/scopes/3: scope orders:read repeats item 1 of tier sandbox",
		"/tiers/1/rotation/intervalDays: 0 is outside 1 to 1000",
		"/tiers/1/tokenExchange/sessionDuration: 0s is outside 15m to 1h",
	})
}
