package rotation

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	smtypes "github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

// EnableDynamoDBAPI is the part of the DynamoDB client the Enabler uses: Scan for every
// partner, GetItem for named ones.
type EnableDynamoDBAPI interface {
	partners.GetItemAPI
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ EnableDynamoDBAPI = (*dynamodb.Client)(nil)

// EnableSecretsAPI is the part of the Secrets Manager client the Enabler uses.
type EnableSecretsAPI interface {
	DescribeSecret(ctx context.Context, in *secretsmanager.DescribeSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.DescribeSecretOutput, error)
	RotateSecret(ctx context.Context, in *secretsmanager.RotateSecretInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.RotateSecretOutput, error)
}

var _ EnableSecretsAPI = (*secretsmanager.Client)(nil)

// Enabler switches scheduled rotation on for partners onboarded before onboarding did it
// itself (`lanyard rotation enable`): for each partner whose secret's rotation is not enabled,
// RotateSecret with the rotation function, its tier's interval as AutomaticallyAfterDays and
// RotateImmediately=false — exactly what onboarding does for a new partner. A secret whose
// rotation is on already is left as it is. It runs with an operator's credentials, against
// the tables and Secrets Manager directly.
type Enabler struct {
	DB      EnableDynamoDBAPI
	Secrets EnableSecretsAPI
	// PartnersTable names the partners table.
	PartnersTable string
	// FunctionARN is the rotation function's ARN, handed to Secrets Manager.
	FunctionARN string
	// Policy gives each tier's rotation interval (policy.Default).
	Policy *policy.Policy
}

// Outcome is what the Enabler did for one partner.
type Outcome string

// The outcomes.
const (
	// OutcomeEnabled: rotation was off and is on now.
	OutcomeEnabled Outcome = "enabled"
	// OutcomeAlreadyOn: rotation was on; nothing was changed.
	OutcomeAlreadyOn Outcome = "already-on"
	// OutcomeSkipped: the partner is not active, so its key is not rotated.
	OutcomeSkipped Outcome = "skipped"
	// OutcomeFailed: rotation could not be switched on; Detail says why.
	OutcomeFailed Outcome = "failed"
)

// Result is the Enabler's outcome for one partner.
type Result struct {
	PartnerID string  `json:"partnerId"`
	Tier      string  `json:"tier,omitempty"`
	SecretARN string  `json:"secretArn,omitempty"`
	Outcome   Outcome `json:"outcome"`
	// IntervalDays is the secret's AutomaticallyAfterDays once done (enabled, already on).
	IntervalDays int64 `json:"intervalDays,omitempty"`
	// Detail explains a failure or a skip, or notes a rotation already on with another
	// function than FunctionARN.
	Detail string `json:"detail,omitempty"`
}

// All switches rotation on for every partner of the table, in partner id order, calling
// report (when not nil) after each. It returns an error only when the partners cannot be
// listed; a partner that failed is a Result with OutcomeFailed.
func (e *Enabler) All(ctx context.Context, report func(Result)) ([]Result, error) {
	ps, bad, err := e.scan(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Result, 0, len(ps)+len(bad))
	for _, r := range bad {
		out = append(out, e.emit(r, report))
	}
	for _, p := range ps {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("enable rotation: %w", err)
		}
		out = append(out, e.emit(e.enable(ctx, p), report))
	}
	return out, nil
}

// Partners switches rotation on for the partners named, in the order given, calling report
// (when not nil) after each. A partner that is not in the table is a failed Result.
func (e *Enabler) Partners(ctx context.Context, ids []string, report func(Result)) ([]Result, error) {
	store := &partners.Store{DB: e.DB, Table: e.PartnersTable}
	out := make([]Result, 0, len(ids))
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return out, fmt.Errorf("enable rotation: %w", err)
		}
		p, err := store.Get(ctx, id)
		switch {
		case errors.Is(err, partners.ErrNotFound):
			out = append(out, e.emit(Result{PartnerID: id, Outcome: OutcomeFailed, Detail: "no such partner"}, report))
		case err != nil:
			out = append(out, e.emit(Result{PartnerID: id, Outcome: OutcomeFailed, Detail: err.Error()}, report))
		default:
			out = append(out, e.emit(e.enable(ctx, p), report))
		}
	}
	return out, nil
}

func (e *Enabler) emit(r Result, report func(Result)) Result {
	if report != nil {
		report(r)
	}
	return r
}

// scan reads every partner of the table, sorted by id, skipping the AWS account claims; an
// item that is not a well-formed partner becomes a failed Result.
func (e *Enabler) scan(ctx context.Context) ([]partners.Partner, []Result, error) {
	var ps []partners.Partner
	var bad []Result
	pages := dynamodb.NewScanPaginator(e.DB, &dynamodb.ScanInput{
		TableName:      aws.String(e.PartnersTable),
		ConsistentRead: aws.Bool(true),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("enable rotation: scan partners table %s: %w", e.PartnersTable, err)
		}
		for _, item := range page.Items {
			id, accountClaim := partners.IDOf(item)
			if accountClaim {
				continue
			}
			p, err := partners.FromItem(item)
			if err != nil {
				bad = append(bad, Result{PartnerID: id, Outcome: OutcomeFailed, Detail: err.Error()})
				continue
			}
			ps = append(ps, p)
		}
	}
	slices.SortFunc(ps, func(a, b partners.Partner) int { return strings.Compare(a.PartnerID, b.PartnerID) })
	slices.SortFunc(bad, func(a, b Result) int { return strings.Compare(a.PartnerID, b.PartnerID) })
	return ps, bad, nil
}

// enable switches rotation on for one partner, unless it is on already.
func (e *Enabler) enable(ctx context.Context, p partners.Partner) Result {
	r := Result{PartnerID: p.PartnerID, Tier: p.Tier, SecretARN: p.SecretARN}
	failed := func(format string, args ...any) Result {
		r.Outcome, r.Detail = OutcomeFailed, fmt.Sprintf(format, args...)
		return r
	}
	if p.Status != partners.StatusActive {
		r.Outcome, r.Detail = OutcomeSkipped, "partner is "+p.Status
		return r
	}
	tier, ok := e.Policy.Tier(p.Tier)
	if !ok {
		return failed("tier %q is not in policy revision %d", p.Tier, e.Policy.Revision)
	}
	if p.SecretARN == "" {
		return failed("the partner names no secret")
	}
	desc, err := e.Secrets.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(p.SecretARN)})
	if err != nil {
		return failed("describe the secret: %v", err)
	}
	switch {
	case desc.DeletedDate != nil:
		return failed("the secret is scheduled for deletion")
	case aws.ToBool(desc.RotationEnabled):
		r.Outcome = OutcomeAlreadyOn
		if desc.RotationRules != nil {
			r.IntervalDays = aws.ToInt64(desc.RotationRules.AutomaticallyAfterDays)
		}
		if fn := aws.ToString(desc.RotationLambdaARN); fn != e.FunctionARN {
			r.Detail = "rotated by another function: " + fn
		}
		return r
	}
	days := int64(tier.Rotation.IntervalDays)
	_, err = e.Secrets.RotateSecret(ctx, &secretsmanager.RotateSecretInput{
		SecretId:          aws.String(p.SecretARN),
		RotationLambdaARN: aws.String(e.FunctionARN),
		RotationRules:     &smtypes.RotationRulesType{AutomaticallyAfterDays: aws.Int64(days)},
		RotateImmediately: aws.Bool(false),
	})
	if err != nil {
		return failed("RotateSecret: %v", err)
	}
	r.Outcome, r.IntervalDays = OutcomeEnabled, days
	return r
}
