// Package token is the token exchange, POST /v1/token: a partner trades its API key for
// short-lived AWS credentials of the partner-access role, narrowed to what the key's scopes
// grant (policy/policy.json), so it can call the partner API SigV4-signed.
//
// One exchange is one STS AssumeRole by the token function's role:
//
//   - RoleArn: the partner-access role (PARTNER_ACCESS_ROLE_ARN). Its trust policy admits the
//     token function's role alone, and only with a partner session tag; its own policy allows
//     the union of every scope's grants.
//   - RoleSessionName: "partner-<partner id>", so CloudTrail and GetCallerIdentity name the
//     partner (arn:aws:sts::<account>:assumed-role/<role>/partner-<id>).
//   - Policy: the session policy, the grants of the key's scopes resolved under the partner
//     API's stage ARN (PARTNER_API_ARN), built by policy.SessionPolicy: deterministic, sorted,
//     within STS's 2,048 characters.
//   - DurationSeconds: the tier's tokenExchange.sessionDuration (15 minutes to 1 hour).
//   - Tags: partner=<partner id> and key=<key id>, not transitive. Revocation keys on them: an
//     inline deny on the role for aws:PrincipalTag/partner = <id> and aws:TokenIssueTime before
//     the revocation ends every session minted until then.
//
// The key is read again from the registry with a consistent read before the exchange: the
// authorizer's decision may be cached for minutes, and credentials minted from a stale
// decision after a revocation would be issued after the revocation's cut-off time, beyond the
// reach of its deny. Scopes and tier come from that entry too; scopes the tier no longer allows
// are dropped.
//
// The secret access key and the session token are secrets: they are held as secret.Value and
// revealed only into the response body.
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/domain/sessiontag"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The session tags of every partner session. Tag keys are case-insensitive in IAM; these are
// the spellings conditions use (aws:PrincipalTag/partner, aws:RequestTag/partner).
// They are declared in shared/domain/sessiontag, which infra/ reads too.
const (
	// TagPartner carries the partner id: what revocation's deny keys on.
	TagPartner = sessiontag.Partner
	// TagKey carries the id of the key the session was exchanged for.
	TagKey = sessiontag.Key
)

// AssumeRole's DurationSeconds range: 15 minutes to the 12 hours a role may allow (one hour
// when, as here, a role assumes the role).
const (
	minDurationSeconds = 900
	maxDurationSeconds = 43200
)

// SessionNamePrefix starts every session name: "partner-<partner id>".
const SessionNamePrefix = "partner-"

// STSAPI is the part of the STS client the token exchange uses.
type STSAPI interface {
	AssumeRole(ctx context.Context, in *sts.AssumeRoleInput, opts ...func(*sts.Options)) (*sts.AssumeRoleOutput, error)
}

var _ STSAPI = (*sts.Client)(nil)

// The shapes STS accepts (AssumeRole's RoleSessionName; IAM's role ARN) and the execute-api
// stage ARN the grants resolve under.
var (
	sessionNameRE = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	roleARNRE     = regexp.MustCompile(`^arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}$`)
	stageARNRE    = regexp.MustCompile(`^arn:aws[a-z-]*:execute-api:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9]+/[A-Za-z0-9_-]{1,128}$`)
)

// Credentials are the AWS credentials of one exchange.
type Credentials struct {
	// AccessKeyID names the credentials (CloudTrail records it); it is not a secret.
	AccessKeyID     string
	SecretAccessKey secret.Value
	SessionToken    secret.Value
	Expiration      time.Time
}

// Handler answers POST /v1/token. Build it once per cold start (FromEnv); it is safe for
// concurrent use.
type Handler struct {
	STS STSAPI
	// DB reads the key registry, the table CredentialsTable.
	DB               registry.GetItemAPI
	CredentialsTable string
	// RoleARN is the partner-access role's ARN.
	RoleARN string
	// StageARN is the partner API stage's execute-api ARN, the grants' base:
	// "arn:<partition>:execute-api:<region>:<account>:<api>/<stage>".
	StageARN string
	// Policy gives the tiers' session durations and the scopes' grants.
	Policy *policy.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Check refuses a configuration that could not work: ARNs of the wrong shape, or a tier whose
// widest session policy, under the real stage ARN, is over STS's limit. main calls it at cold
// start.
func (h *Handler) Check() error {
	var problems []string
	if h.STS == nil || h.DB == nil {
		problems = append(problems, "no STS or DynamoDB client")
	}
	if h.CredentialsTable == "" {
		problems = append(problems, "no credentials table")
	}
	if h.Policy == nil {
		return errors.New("token exchange: no policy")
	}
	if !roleARNRE.MatchString(h.RoleARN) {
		problems = append(problems, "the partner-access role ARN is not an IAM role ARN")
	}
	if !stageARNRE.MatchString(h.StageARN) {
		problems = append(problems, "the partner API ARN is not an execute-api stage ARN (arn:<partition>:execute-api:<region>:<account>:<api>/<stage>)")
	} else {
		for _, t := range h.Policy.Tiers {
			if _, err := h.Policy.SessionPolicy(h.StageARN, t.Scopes); err != nil {
				problems = append(problems, fmt.Sprintf("tier %s: %v", t.Name, err))
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("token exchange: %s", strings.Join(problems, "; "))
	}
	return nil
}

// request is one exchange as the AssumeRole call will make it.
type request struct {
	partnerID, keyID, tier string
	// scopes are the key's scopes the tier still allows, sorted; dropped are the others.
	scopes, dropped []string
	duration        time.Duration
	sessionPolicy   string
}

// ErrNoGrants is returned when none of the key's scopes grants anything any more.
var ErrNoGrants = errors.New("none of the key's scopes grants AWS access")

// plan works out the AssumeRole of an accepted registry entry.
func (h *Handler) plan(e registry.Entry) (request, error) {
	r := request{partnerID: e.PartnerID, keyID: string(e.KeyID), tier: e.Tier}
	tier, ok := h.Policy.Tier(e.Tier)
	if !ok {
		return r, fmt.Errorf("key %s is in tier %q, which the policy (revision %d) does not declare", e.KeyID, e.Tier, h.Policy.Revision)
	}
	for _, s := range slices.Compact(slices.Sorted(slices.Values(e.Scopes))) {
		if slices.Contains(tier.Scopes, s) {
			r.scopes = append(r.scopes, s)
		} else {
			r.dropped = append(r.dropped, s)
		}
	}
	r.duration = tier.TokenExchange.SessionDuration.Std()
	doc, err := h.Policy.SessionPolicy(h.StageARN, r.scopes)
	if errors.Is(err, policy.ErrNoPermissions) {
		return r, fmt.Errorf("key %s of partner %s, scopes %v (dropped %v): %w", e.KeyID, e.PartnerID, r.scopes, r.dropped, ErrNoGrants)
	}
	if err != nil {
		return r, fmt.Errorf("key %s of partner %s: %w", e.KeyID, e.PartnerID, err)
	}
	r.sessionPolicy = doc
	return r, nil
}

// SessionName is the role session name of a partner's sessions, "partner-<partner id>".
func SessionName(partnerID string) string { return SessionNamePrefix + partnerID }

// input is the AssumeRole call of r.
func (h *Handler) input(r request) (*sts.AssumeRoleInput, error) {
	name := SessionName(r.partnerID)
	if !sessionNameRE.MatchString(name) {
		return nil, fmt.Errorf("partner id %q does not make a role session name (2 to 64 of A-Z a-z 0-9 _ + = , . @ -)", r.partnerID)
	}
	secs := int64(r.duration / time.Second)
	if secs < minDurationSeconds || secs > maxDurationSeconds {
		return nil, fmt.Errorf("tier %s: a session of %s is outside what STS accepts", r.tier, r.duration)
	}
	return &sts.AssumeRoleInput{
		RoleArn:         aws.String(h.RoleARN),
		RoleSessionName: aws.String(name),
		DurationSeconds: aws.Int32(int32(secs)),
		Policy:          aws.String(r.sessionPolicy),
		Tags: []ststypes.Tag{
			{Key: aws.String(TagPartner), Value: aws.String(r.partnerID)},
			{Key: aws.String(TagKey), Value: aws.String(r.keyID)},
		},
	}, nil
}

// assume calls STS and takes the credentials out of its answer.
func (h *Handler) assume(ctx context.Context, r request) (Credentials, error) {
	in, err := h.input(r)
	if err != nil {
		return Credentials{}, err
	}
	out, err := h.STS.AssumeRole(ctx, in)
	if err != nil {
		return Credentials{}, fmt.Errorf("assume role %s as %s: %w", h.RoleARN, aws.ToString(in.RoleSessionName), err)
	}
	c := out.Credentials
	if c == nil || aws.ToString(c.AccessKeyId) == "" || aws.ToString(c.SecretAccessKey) == "" || aws.ToString(c.SessionToken) == "" || c.Expiration == nil {
		return Credentials{}, fmt.Errorf("assume role %s as %s: the answer lacks credentials or their expiration", h.RoleARN, aws.ToString(in.RoleSessionName))
	}
	if pct := aws.ToInt32(out.SessionTokenUtilization); pct >= 90 {
		slog.WarnContext(ctx, "session token near STS's size limit: the session policy and tags use most of it",
			"partnerId", r.partnerID, "tier", r.tier, "sessionTokenUtilization", pct, "sessionPolicyLength", len(r.sessionPolicy))
	}
	return Credentials{
		AccessKeyID:     aws.ToString(c.AccessKeyId),
		SecretAccessKey: secret.New(aws.ToString(c.SecretAccessKey)),
		SessionToken:    secret.New(aws.ToString(c.SessionToken)),
		Expiration:      c.Expiration.UTC(),
	}, nil
}
