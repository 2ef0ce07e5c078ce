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
//
// # Every exchange is recorded
//
// An exchange is AssumeRole → commit Token Exchanged (the partner, the key used, the role session
// name, the session's expiry and scopes; never the credentials) to the outbox → answer with the
// credentials. When the commit fails, the credentials are not answered: the partner gets 503
// unavailable and retries. The session STS made exists then but no one ever received it: its
// credentials lived in this function's memory only, and it expires with the tier's session
// duration (an hour at most), so nothing is revoked. (A commit whose outcome is unknown — a
// timeout — may leave a record of an exchange whose credentials were not answered; never the
// reverse.)
//
// Exchanges do not go on the partner's lifecycle chain but on exchange lanes
// (outbox.ExchangeChain): every commit to one chain is conditioned on its head item, so one chain
// takes its decisions one after another, each waiting for the previous one's round trips (a
// transaction of some 10–20 ms, plus a head read and a retry after every conflict). A premium
// partner may exchange 200 times a second (its usage plan's rate in topology/lanyard.go, bursts of
// 400): on one chain those exchanges would queue behind each other and behind the partner's
// lifecycle decisions (a revocation among them), and conflict with one another. A lane is one
// execution environment of this function instead, named by a UUIDv7 taken at cold start (Lane):
// Lambda runs one request at a time in an environment, so no two writers ever share a lane, and
// the environment keeps the head it last committed (outbox.Lane) — an exchange's record is one
// TransactWriteItems call, with no head read and no conflict. Exchanges scale out with the
// environments Lambda starts, each chained on its own; a partner's exchange history is the union
// of its lanes (outbox.Store.Chains lists them), each lane gap-free and hash-chained. An
// environment keeps one lane per partner it has served (a small map: one head each).
//
// An exchange makes two DynamoDB calls: the registry read (GetItem) and the record's
// transaction (TransactWriteItems).
package token

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	ststypes "github.com/aws/aws-sdk-go-v2/service/sts/types"
	"github.com/google/uuid"

	"github.com/lanyardhq/lanyard/events"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/domain/sessiontag"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
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
// concurrent use (a lane's commits are serialized).
type Handler struct {
	STS STSAPI
	// DB reads the key registry, the table CredentialsTable.
	DB               registry.GetItemAPI
	CredentialsTable string
	// Outbox records each exchange, on the lane Lane of the partner (outbox.ExchangeChain).
	Outbox *outbox.Store
	// Lane names this execution environment's exchange lanes: a UUIDv7 taken at cold start
	// (NewLane).
	Lane string
	// RoleARN is the partner-access role's ARN.
	RoleARN string
	// StageARN is the partner API stage's execute-api ARN, the grants' base:
	// "arn:<partition>:execute-api:<region>:<account>:<api>/<stage>".
	StageARN string
	// Policy gives the tiers' session durations and the scopes' grants.
	Policy *policy.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// lanes are the partners' exchange lanes in this environment, by partner id (lanesMu).
	lanes map[string]*lane
}

// lanesMu guards every Handler's lanes: held only to find or add a lane.
var lanesMu sync.Mutex

// lane is one partner's exchange lane in this environment; mu serializes its commits (Lambda
// never runs two at once in an environment; a local runner or a test may).
type lane struct {
	mu sync.Mutex
	outbox.Lane
}

// NewLane returns a new lane id: a UUIDv7, unique to the execution environment that takes it at
// cold start, and ordered by the time it was taken.
func NewLane() string { return uuid.Must(uuid.NewV7()).String() }

// laneOf returns the partner's exchange lane in this environment.
func (h *Handler) laneOf(partnerID string) *lane {
	lanesMu.Lock()
	defer lanesMu.Unlock()
	if h.lanes == nil {
		h.lanes = map[string]*lane{}
	}
	l, ok := h.lanes[partnerID]
	if !ok {
		l = &lane{Lane: outbox.Lane{Store: h.Outbox, Chain: outbox.ExchangeChain(partnerID, h.Lane)}}
		h.lanes[partnerID] = l
	}
	return l
}

// record commits Token Exchanged for the exchange r, whose session expires at expiresAt, on the
// partner's lane.
func (h *Handler) record(ctx context.Context, r request, expiresAt, now time.Time) (outbox.Record, error) {
	l := h.laneOf(r.partnerID)
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.Commit(ctx, &events.TokenExchanged{
		Meta:            events.NewMeta(r.partnerID, events.Actor{Kind: events.ActorPartner, ID: r.partnerID}, now),
		KeyID:           r.keyID,
		Tier:            r.tier,
		RoleSessionName: SessionName(r.partnerID),
		ExpiresAt:       expiresAt.UTC(),
		Scopes:          r.scopes,
	}, nil)
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
	if h.Outbox == nil || h.Outbox.DB == nil || h.Outbox.Table == "" {
		problems = append(problems, "no outbox table")
	}
	if _, err := uuid.Parse(h.Lane); err != nil {
		problems = append(problems, "the lane is not a UUID")
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
