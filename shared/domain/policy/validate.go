package policy

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The schema's patterns, checked again here so a policy built in Go gets the same answer
// (a test keeps each equal to its schema counterpart).
const (
	scopePattern    = `^[a-z][a-z0-9-]*(:[a-z][a-z0-9-]*)+$`
	tierNamePattern = `^[a-z][a-z0-9-]{0,31}$`
	accountPattern  = `^[0-9]{12}$`
	maxScopeLen     = 64
)

var (
	scopeRE    = regexp.MustCompile(scopePattern)
	tierNameRE = regexp.MustCompile(tierNamePattern)
	accountRE  = regexp.MustCompile(accountPattern)
)

// Limits outside the policy: API Gateway's and STS's, and how short "short" is.
const (
	maxCacheTTL         = time.Hour           // API Gateway's authorizerResultTtlInSeconds ceiling
	maxKeyCacheTTL      = 5 * time.Minute     // revocation cannot reach an instance's memory
	maxReplayWindow     = time.Hour           // a key shown again to a retry: minutes, not hours
	maxRevocationBudget = time.Hour           // a stall is an alarm, not a report
	minWriterLagBudget  = time.Minute         // the lag is measured once a minute
	maxWriterLagBudget  = time.Hour           // an alarm, not a report
	minRefusalWindow    = time.Minute         // the aggregator runs once a minute
	maxRefusalWindow    = time.Hour           // a flood is reported within the hour
	minExportWindow     = time.Minute         // the exporter runs once a minute
	maxExportWindow     = 24 * time.Hour      // a day's trail is exported the next day at the latest
	maxExportDelay      = time.Hour           // a window is exported within the hour after it closes
	maxExportRetention  = 36500               // S3 Object Lock's longest default retention in days
	minRecoveryWindow   = 7 * 24 * time.Hour  // DeleteSecret's RecoveryWindowInDays floor
	maxRecoveryWindow   = 30 * 24 * time.Hour // and ceiling
	minSessionDuration  = 15 * time.Minute    // AssumeRole DurationSeconds floor
	maxSessionDuration  = time.Hour           // ceiling for a role assumed by a role (role chaining)
	maxAnomalyWindow    = 24 * time.Hour      // a burst, not a trend
	maxRateLimit        = 10000               // an account's default API Gateway rate per Region
	maxBurstLimit       = 5000                // an account's default API Gateway burst per Region
	maxPrincipals       = 20                  // principal patterns of one allow-list entry
)

// Validate applies every rule of the policy: those the schema expresses, checked again so a
// Policy built in Go is held to them too, and those it cannot (relations between fields,
// uniqueness by name, references). It returns nil or an *InvalidError naming each problem by
// JSON pointer.
func (p *Policy) Validate() error {
	var ps problems
	if p.Version != SchemaVersion {
		ps.add("/version", "%d is not a version this build reads (%d)", p.Version, SchemaVersion)
	}
	if p.Revision < 1 {
		ps.add("/revision", "must be 1 or more, got %d", p.Revision)
	}
	checkAuthorizer(&ps, p.Authorizer)
	if w := p.Onboarding.ReplayWindow; w <= 0 || w.Std() > maxReplayWindow {
		ps.add("/onboarding/replayWindow", "%s is outside 1s to %s: a replay shows the key again only shortly after the first answer", w, Duration(maxReplayWindow))
	}

	if b := p.Revocation.Budget; b <= p.Authorizer.KeyCacheTTL || b.Std() > maxRevocationBudget {
		ps.add("/revocation/budget", "%s is outside (/authorizer/keyCacheTtl %s, %s]: the gateway enforcer waits out the key cache before it reports, so a shorter budget stalls every revocation", b, p.Authorizer.KeyCacheTTL, Duration(maxRevocationBudget))
	}

	if w := p.Revocation.SecretRecoveryWindow.Std(); w < minRecoveryWindow || w > maxRecoveryWindow || w%(24*time.Hour) != 0 {
		ps.add("/revocation/secretRecoveryWindow", "%s is not whole days from %s to %s: Secrets Manager's DeleteSecret RecoveryWindowInDays is 7 to 30", p.Revocation.SecretRecoveryWindow, Duration(minRecoveryWindow), Duration(maxRecoveryWindow))
	}

	if !slices.Contains(AuditRetentionDays, p.Audit.RetentionDays) {
		ps.add("/audit/retentionDays", "%d is not a retention CloudWatch Logs allows (%s days)", p.Audit.RetentionDays, joinInts(AuditRetentionDays))
	}
	if b := p.Audit.WriterLagBudget.Std(); b < minWriterLagBudget || b > maxWriterLagBudget {
		ps.add("/audit/writerLagBudget", "%s is outside %s to %s: the audit writer's lag is measured once a minute, and being behind is an alarm, not a report", p.Audit.WriterLagBudget, Duration(minWriterLagBudget), Duration(maxWriterLagBudget))
	}
	if w := p.Audit.RefusalWindow.Std(); w < minRefusalWindow || w > maxRefusalWindow || w%time.Minute != 0 || time.Hour%w != 0 {
		ps.add("/audit/refusalWindow", "%s is not whole minutes from %s to %s dividing an hour evenly: the windows refusals are counted in start on the clock's minutes", p.Audit.RefusalWindow, Duration(minRefusalWindow), Duration(maxRefusalWindow))
	}

	if w := p.Audit.ExportWindow.Std(); w < minExportWindow || w > maxExportWindow || w%time.Minute != 0 || (24*time.Hour)%w != 0 {
		ps.add("/audit/exportWindow", "%s is not whole minutes from %s to %s dividing a day evenly: the export windows start on the clock's minutes", p.Audit.ExportWindow, Duration(minExportWindow), Duration(maxExportWindow))
	}
	if d := p.Audit.ExportDelay.Std(); d < 0 || d > maxExportDelay {
		ps.add("/audit/exportDelay", "%s is outside 0s to %s", p.Audit.ExportDelay, Duration(maxExportDelay))
	}
	if d := p.Audit.ExportRetentionDays; d < 1 || d > maxExportRetention {
		ps.add("/audit/exportRetentionDays", "%d is outside 1 to %d days (S3 Object Lock's default retention)", d, maxExportRetention)
	}

	catalog := map[string]bool{}
	if len(p.Scopes) == 0 {
		ps.add("/scopes", "declares no scope")
	}
	for i, s := range p.Scopes {
		at := fmt.Sprintf("/scopes/%d", i)
		checkScope(&ps, at+"/name", s.Name)
		if catalog[s.Name] {
			ps.add(at+"/name", "scope %s declared twice", s.Name)
		}
		catalog[s.Name] = true
		if s.Description == "" {
			ps.add(at+"/description", "required: what the scope permits")
		}
		checkGrants(&ps, at, s)
	}

	tiers := map[string]bool{}
	if len(p.Tiers) == 0 {
		ps.add("/tiers", "declares no tier")
	}
	for i, t := range p.Tiers {
		at := fmt.Sprintf("/tiers/%d", i)
		if !tierNameRE.MatchString(t.Name) {
			ps.add(at+"/name", "%q is not a tier name: lowercase letters, digits and hyphens, starting with a letter, at most 32", t.Name)
		}
		if tiers[t.Name] {
			ps.add(at+"/name", "tier %s declared twice", t.Name)
		}
		tiers[t.Name] = true
		checkTier(&ps, at, t, catalog, p.Authorizer)
	}

	checkSizes(&ps, p)

	checkAccounts(&ps, p.Accounts, 0, map[string]bool{}, tiers)

	for name, l := range map[string]Limits{
		"issuance":           p.Anomalies.Issuance,
		"tokenExchange":      p.Anomalies.TokenExchange,
		"failedVerification": p.Anomalies.FailedVerification,
	} {
		checkLimit(&ps, "/anomalies/"+name+"/perPartner", l.PerPartner)
		checkLimit(&ps, "/anomalies/"+name+"/global", l.Global)
	}
	return ps.err()
}

// checkAccounts checks allow-list entries, the first at /accounts/<first>: account ids well
// formed and not in seen (which it extends), tiers declared, principal patterns valid for the
// entry's account and not repeated, a description.
func checkAccounts(ps *problems, accounts []Account, first int, seen, tiers map[string]bool) {
	for i, a := range accounts {
		at := fmt.Sprintf("/accounts/%d", first+i)
		if !accountRE.MatchString(a.AccountID) {
			ps.add(at+"/accountId", "%q is not a 12-digit AWS account id", a.AccountID)
		}
		if seen[a.AccountID] {
			ps.add(at+"/accountId", "account %s listed twice", a.AccountID)
		}
		seen[a.AccountID] = true
		if !tiers[a.Tier] {
			ps.add(at+"/tier", "tier %q is not declared in /tiers", a.Tier)
		}
		if a.Description == "" {
			ps.add(at+"/description", "required: whose account this is")
		}
		switch n := len(a.Principals); {
		case n == 0:
			ps.add(at+"/principals", "names no principal: an entry admits only the principals it names (the account's root never)")
		case n > maxPrincipals:
			ps.add(at+"/principals", "%d patterns, more than %d", n, maxPrincipals)
		}
		patterns := map[string]bool{}
		for j, pattern := range a.Principals {
			pat := fmt.Sprintf("%s/principals/%d", at, j)
			if _, err := parsePrincipal(pattern, a.AccountID); err != nil {
				ps.add(pat, "%v", err)
			}
			if patterns[pattern] {
				ps.add(pat, "pattern %q listed twice", pattern)
			}
			patterns[pattern] = true
		}
	}
}

func checkAuthorizer(ps *problems, a Authorizer) {
	if a.CacheTTL < 0 || a.CacheTTL.Std() > maxCacheTTL {
		ps.add("/authorizer/cacheTtl", "%s is outside 0s to %s (API Gateway's limit)", a.CacheTTL, Duration(maxCacheTTL))
	}
	if a.KeyCacheTTL < 0 || a.KeyCacheTTL.Std() > maxKeyCacheTTL {
		ps.add("/authorizer/keyCacheTtl", "%s is outside 0s to %s (revocation cannot flush an instance's memory, so it stays short)", a.KeyCacheTTL, Duration(maxKeyCacheTTL))
	}
}

func checkScope(ps *problems, at, s string) {
	if !scopeRE.MatchString(s) || len(s) > maxScopeLen {
		ps.add(at, "%q is not a scope: lowercase segments joined by \":\", like \"orders:read\" (at most %d characters)", s, maxScopeLen)
	}
}

func checkTier(ps *problems, at string, t Tier, catalog map[string]bool, a Authorizer) {
	if t.Description == "" {
		ps.add(at+"/description", "required: who the tier is for")
	}
	if len(t.Scopes) == 0 {
		ps.add(at+"/scopes", "tier %s allows no scope", t.Name)
	}
	seen := map[string]int{}
	for j, s := range t.Scopes {
		sat := fmt.Sprintf("%s/scopes/%d", at, j)
		checkScope(ps, sat, s)
		if first, dup := seen[s]; dup {
			ps.add(sat, "scope %s repeats item %d of tier %s", s, first, t.Name)
			continue
		}
		seen[s] = j
		if !catalog[s] && scopeRE.MatchString(s) {
			ps.add(sat, "scope %s of tier %s is not declared in /scopes", s, t.Name)
		}
	}

	r := t.Rotation
	life, interval, grace, drain, warn := t.KeyLifetime.Std(), r.Interval(), r.GraceWindow.Std(), r.DrainWindow.Std(), r.WarnBeforeGraceEnds.Std()
	positive := func(field string, d Duration) bool {
		if d <= 0 {
			ps.add(at+field, "must be longer than 0s, got %s", d)
			return false
		}
		return true
	}
	lifeOK := positive("/keyLifetime", t.KeyLifetime)
	graceOK := positive("/rotation/graceWindow", r.GraceWindow)
	drainOK := positive("/rotation/drainWindow", r.DrainWindow)
	warnOK := positive("/rotation/warnBeforeGraceEnds", r.WarnBeforeGraceEnds)

	switch {
	case r.IntervalDays < 1 || r.IntervalDays > 1000:
		ps.add(at+"/rotation/intervalDays", "%d is outside 1 to 1000 (Secrets Manager's AutomaticallyAfterDays)", r.IntervalDays)
	case lifeOK && interval >= life:
		ps.add(at+"/rotation/intervalDays", "tier %s rotates every %d days (%s) but keys live only %s: the rotation interval must be shorter than the key lifetime",
			t.Name, r.IntervalDays, Duration(interval), t.KeyLifetime)
	case lifeOK && graceOK && interval+grace > life:
		ps.add(at+"/keyLifetime", "tier %s: %s is shorter than the rotation interval (%d days) plus the grace window (%s), %s: a key would expire before its grace ends",
			t.Name, t.KeyLifetime, r.IntervalDays, r.GraceWindow, Duration(interval+grace))
	}
	if graceOK && r.IntervalDays >= 1 && grace >= interval {
		ps.add(at+"/rotation/graceWindow", "tier %s: %s is not shorter than the rotation interval (%d days): the next rotation would displace a previous key still in grace (there is one AWSPREVIOUS)",
			t.Name, r.GraceWindow, r.IntervalDays)
	}
	if drainOK && drain < a.Staleness() {
		ps.add(at+"/rotation/drainWindow", "tier %s: %s is shorter than the authorizer's caches, /authorizer/cacheTtl %s + /authorizer/keyCacheTtl %s = %s: a retired key could outlive its drain",
			t.Name, r.DrainWindow, a.CacheTTL, a.KeyCacheTTL, Duration(a.Staleness()))
	}
	if drainOK && graceOK && drain > grace {
		ps.add(at+"/rotation/drainWindow", "tier %s: %s is longer than the grace window %s: acknowledging the new key must never extend the old one",
			t.Name, r.DrainWindow, r.GraceWindow)
	}
	if warnOK && graceOK && warn >= grace {
		ps.add(at+"/rotation/warnBeforeGraceEnds", "tier %s: %s is not shorter than the grace window %s",
			t.Name, r.WarnBeforeGraceEnds, r.GraceWindow)
	}

	if !(t.Throttle.RateLimit > 0 && t.Throttle.RateLimit <= maxRateLimit) {
		ps.add(at+"/throttle/rateLimit", "%v is outside (0, %d] requests per second", t.Throttle.RateLimit, maxRateLimit)
	}
	if t.Throttle.BurstLimit < 1 || t.Throttle.BurstLimit > maxBurstLimit {
		ps.add(at+"/throttle/burstLimit", "%d is outside 1 to %d", t.Throttle.BurstLimit, maxBurstLimit)
	}
	if sd := t.TokenExchange.SessionDuration.Std(); sd < minSessionDuration || sd > maxSessionDuration {
		ps.add(at+"/tokenExchange/sessionDuration", "%s is outside %s to %s (STS AssumeRole from a role)",
			t.TokenExchange.SessionDuration, Duration(minSessionDuration), Duration(maxSessionDuration))
	}
}

func checkLimit(ps *problems, at string, l Limit) {
	if l.Count < 1 {
		ps.add(at+"/count", "must be 1 or more, got %d", l.Count)
	}
	if l.Window <= 0 || l.Window.Std() > maxAnomalyWindow {
		ps.add(at+"/window", "%s is outside 1s to %s", l.Window, Duration(maxAnomalyWindow))
	}
}

func joinInts(ns []int) string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		out = append(out, strconv.Itoa(n))
	}
	return strings.Join(out, ", ")
}
