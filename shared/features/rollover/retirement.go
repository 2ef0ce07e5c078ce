package rollover

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// DefaultRetirementActor is the id of the system actor of the events the retirement commits.
const DefaultRetirementActor = "lanyard-retirement"

// RetirementDynamoDBAPI is the part of the DynamoDB client the retirement uses: the outbox's
// reads and transactions, Scan of the credentials table, and UpdateItem to clear the
// flushPending markers.
type RetirementDynamoDBAPI interface {
	outbox.DynamoDBAPI
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

var _ RetirementDynamoDBAPI = (*dynamodb.Client)(nil)

// FlushAPI is the part of the API Gateway client the retirement uses.
type FlushAPI interface {
	FlushStageAuthorizersCache(ctx context.Context, in *apigateway.FlushStageAuthorizersCacheInput, opts ...func(*apigateway.Options)) (*apigateway.FlushStageAuthorizersCacheOutput, error)
}

var _ FlushAPI = (*apigateway.Client)(nil)

// Retirer is the scheduled retirement of previous keys (see the package documentation). Build
// it once per cold start.
type Retirer struct {
	DB     RetirementDynamoDBAPI
	Tables Tables
	// Gateway flushes the authorizer cache of stage Stage of REST API RestAPIID.
	Gateway   FlushAPI
	RestAPIID string
	Stage     string
	// Policy gives each tier's warnBeforeGraceEnds (policy.Default).
	Policy *policy.Policy
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Actor is the id of the system actor of the events (the function's name); empty means
	// DefaultRetirementActor.
	Actor string
	// PageSize bounds the items of one Scan page (its Limit); 0 leaves DynamoDB's 1 MB pages.
	PageSize int32
}

// Report is what one run did.
type Report struct {
	// Scanned is how many previous keys and keys owing a flush the scan found.
	Scanned int
	// Retired and Warned list the key ids retired, and warned about, by this run.
	Retired []string
	Warned  []string
	// Flushed says the authorizer cache was flushed.
	Flushed bool
}

func (r *Retirer) now() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

func (r *Retirer) actor() events.Actor {
	id := r.Actor
	if id == "" {
		id = DefaultRetirementActor
	}
	return events.Actor{Kind: events.ActorSystem, ID: id}
}

// Handle is the Lambda entry point: the scheduled event says nothing the run needs. An error
// (after everything that could be done was done) fails the invocation, so the failure shows;
// the next run, a minute later, converges.
func (r *Retirer) Handle(ctx context.Context, ev lambdaevents.EventBridgeEvent) error {
	slog.InfoContext(ctx, "retirement run", "scheduledAt", ev.Time, "eventId", ev.ID)
	_, err := r.Run(ctx)
	return err
}

// Run scans the previous keys once: it retires those whose time has come, warns about those
// whose unacknowledged grace is ending, and flushes the authorizer cache when keys retired. A
// key's failure does not stop the others; the errors are returned joined, at the end.
func (r *Retirer) Run(ctx context.Context) (rep Report, err error) {
	ctx, span := tracing.Start(ctx, "retire")
	defer func() { span.End(err) }()
	now := r.now()
	entries, errs := r.scan(ctx)
	rep.Scanned = len(entries)
	var owed []registry.Entry // retired keys whose retirement the cache was not flushed for
	for _, e := range entries {
		if e.FlushPending {
			owed = append(owed, e)
		}
		if e.Status != registry.StatusPrevious {
			continue
		}
		switch {
		case !now.Before(acceptedUntil(e)):
			retired, err := r.retire(ctx, e, now)
			if err != nil {
				errs = append(errs, err)
			}
			if retired {
				rep.Retired = append(rep.Retired, string(e.KeyID))
				owed = append(owed, e)
			}
		case e.AcknowledgedAt.IsZero() && e.GraceWarnedAt.IsZero():
			warned, err := r.warn(ctx, e, now)
			if err != nil {
				errs = append(errs, err)
			}
			if warned {
				rep.Warned = append(rep.Warned, string(e.KeyID))
			}
		}
	}
	if len(owed) > 0 {
		if err := r.flush(ctx, owed); err != nil {
			errs = append(errs, err)
		} else {
			rep.Flushed = true
		}
	}
	slog.InfoContext(ctx, "retirement run done", "scanned", rep.Scanned, "retired", rep.Retired, "warned", rep.Warned,
		"flushed", rep.Flushed, "errors", len(errs))
	if len(errs) > 0 {
		return rep, fmt.Errorf("retirement run: %w", errors.Join(errs...))
	}
	return rep, nil
}

// scan reads every previous key and every key owing a flush, page by page. An item that does
// not read as a registry entry is an error, and the others are still returned.
func (r *Retirer) scan(ctx context.Context) ([]registry.Entry, []error) {
	in := registry.RetirementScan(r.Tables.Credentials, r.PageSize)
	var out []registry.Entry
	var errs []error
	p := dynamodb.NewScanPaginator(r.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return out, append(errs, fmt.Errorf("scan the credentials table %s: %w", r.Tables.Credentials, err))
		}
		for _, item := range page.Items {
			e, err := registry.EntryFromItem(item)
			if err != nil {
				errs = append(errs, fmt.Errorf("scan the credentials table %s: %w", r.Tables.Credentials, err))
				continue
			}
			out = append(out, e)
		}
	}
	return out, errs
}

// retire retires previous key e, due at now: previous → retired (flushPending set), the
// partner item's previousKeyId cleared when it names e, and Credential Retired, in one
// transaction. It reports whether this call retired it; a concurrent change (another run, a
// rotation, a revocation) cancels the transaction, and that is not an error.
func (r *Retirer) retire(ctx context.Context, e registry.Entry, now time.Time) (bool, error) {
	pid := e.PartnerID
	items := []types.TransactWriteItem{registry.RetireDue(r.Tables.Credentials, e.KeyID, now)}
	p, err := readPartner(ctx, r.DB, r.Tables.Partners, pid)
	switch {
	case err == nil && p.PreviousKeyID == e.KeyID:
		items = append(items, clearPrevious(r.Tables.Partners, pid, e.KeyID))
	case err == nil, errors.Is(err, partners.ErrNotFound):
		// The partner item names another previous key (or the partner is gone): the entry
		// retires alone.
		slog.WarnContext(ctx, "retiring a previous key the partner item does not name", "partnerId", pid,
			"keyId", string(e.KeyID), "partnerPreviousKeyId", string(p.PreviousKeyID))
	default:
		return false, fmt.Errorf("retire key %s of partner %s: %w", e.KeyID, pid, err)
	}
	ev := &events.CredentialRetired{
		Meta:       events.NewMeta(pid, r.actor(), now),
		KeyID:      string(e.KeyID),
		Reason:     events.RetiredGraceEnded,
		GraceUntil: e.GraceUntil.UTC(),
	}
	if !e.AcknowledgedAt.IsZero() {
		ack, retireAt := e.AcknowledgedAt.UTC(), e.RetireAt.UTC()
		ev.Reason, ev.AcknowledgedAt, ev.RetireAt = events.RetiredAcknowledged, &ack, &retireAt
	}
	_, err = (&outbox.Store{DB: r.DB, Table: r.Tables.Outbox}).Commit(ctx, pid, ev, items)
	var changed *outbox.StateChangeError
	switch {
	case errors.As(err, &changed):
		slog.InfoContext(ctx, "key not retired: it changed since the scan (the next run reads it again)", "partnerId", pid,
			"keyId", string(e.KeyID), "stateChange", changed.Index)
		return false, nil
	case err != nil:
		return false, fmt.Errorf("retire key %s of partner %s: %w", e.KeyID, pid, err)
	}
	slog.InfoContext(ctx, "key retired", "partnerId", pid, "keyId", string(e.KeyID), "reason", ev.Reason,
		"graceUntil", e.GraceUntil, "retireAt", e.RetireAt, "eventId", ev.EventID)
	return true, nil
}

// warn commits Credential Grace Ending for previous key e, unacknowledged and not warned about,
// when its grace ends within its tier's warnBeforeGraceEnds of now, with the entry's
// graceWarnedAt marker that makes it happen once. It reports whether this call warned.
func (r *Retirer) warn(ctx context.Context, e registry.Entry, now time.Time) (bool, error) {
	pid := e.PartnerID
	t, ok := r.Policy.Tier(e.Tier)
	if !ok {
		return false, fmt.Errorf("warn about key %s of partner %s: tier %q is not in the policy", e.KeyID, pid, e.Tier)
	}
	if now.Before(e.GraceUntil.Add(-t.Rotation.WarnBeforeGraceEnds.Std())) {
		return false, nil
	}
	p, err := readPartner(ctx, r.DB, r.Tables.Partners, pid)
	if err != nil {
		return false, fmt.Errorf("warn about key %s of partner %s: %w", e.KeyID, pid, err)
	}
	ev := &events.CredentialGraceEnding{
		Meta:         events.NewMeta(pid, r.actor(), now),
		KeyID:        string(e.KeyID),
		CurrentKeyID: p.KeyID,
		GraceUntil:   e.GraceUntil.UTC(),
	}
	_, err = (&outbox.Store{DB: r.DB, Table: r.Tables.Outbox}).Commit(ctx, pid, ev,
		[]types.TransactWriteItem{registry.WarnGraceEnding(r.Tables.Credentials, e.KeyID, now)})
	var changed *outbox.StateChangeError
	switch {
	case errors.As(err, &changed):
		slog.InfoContext(ctx, "grace warning not sent: the key was warned about, acknowledged or retired since the scan",
			"partnerId", pid, "keyId", string(e.KeyID))
		return false, nil
	case err != nil:
		return false, fmt.Errorf("warn about key %s of partner %s: %w", e.KeyID, pid, err)
	}
	slog.WarnContext(ctx, "grace of an unacknowledged previous key ending", "partnerId", pid, "keyId", string(e.KeyID),
		"currentKeyId", p.KeyID, "graceUntil", e.GraceUntil, "eventId", ev.EventID)
	return true, nil
}

// flush flushes the stage's authorizer cache, then clears the flushPending marker of each
// retired key. A marker that stays (a failed update) only costs one more flush next run.
func (r *Retirer) flush(ctx context.Context, owed []registry.Entry) error {
	_, err := r.Gateway.FlushStageAuthorizersCache(ctx, &apigateway.FlushStageAuthorizersCacheInput{
		RestApiId: aws.String(r.RestAPIID),
		StageName: aws.String(r.Stage),
	})
	if err != nil {
		return fmt.Errorf("flush the authorizer cache of stage %s of REST API %s for %d retired keys: %w", r.Stage, r.RestAPIID, len(owed), err)
	}
	ids := make([]string, 0, len(owed))
	var errs []error
	for _, e := range owed {
		ids = append(ids, string(e.KeyID))
		if _, err := r.DB.UpdateItem(ctx, registry.FlushDone(r.Tables.Credentials, e.KeyID)); err != nil {
			errs = append(errs, fmt.Errorf("clear the flush marker of key %s: %w", e.KeyID, err))
		}
	}
	slog.InfoContext(ctx, "authorizer cache flushed", "restApiId", r.RestAPIID, "stage", r.Stage, "retiredKeyIds", ids)
	return errors.Join(errs...)
}

// ParseStageARN reads the REST API id and stage name out of an execute-api stage ARN,
// "arn:<partition>:execute-api:<region>:<account>:<api>/<stage>" (topology.APIStageARN).
func ParseStageARN(arn string) (apiID, stage string, err error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "execute-api" {
		return "", "", fmt.Errorf("%q is not an execute-api ARN", arn)
	}
	apiID, stage, ok := strings.Cut(parts[5], "/")
	if !ok || apiID == "" || stage == "" || strings.Contains(stage, "/") {
		return "", "", fmt.Errorf("execute-api ARN %q names no API and stage", arn)
	}
	return apiID, stage, nil
}
