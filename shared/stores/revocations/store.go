package revocations

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
)

// QueryAPI is the part of the DynamoDB client Get, OpenBefore and ByPartner use.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// ScanAPI adds what List uses.
type ScanAPI interface {
	QueryAPI
	Scan(ctx context.Context, in *dynamodb.ScanInput, opts ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

var _ ScanAPI = (*dynamodb.Client)(nil)

// ErrNotFound is returned by Get when the table holds no revocation of that id.
var ErrNotFound = errors.New("revocation not found")

// Store reads the revocations table. Writes are transaction items (Open, Reported, Stall,
// Complete) the callers commit with their outbox records.
type Store struct {
	DB    QueryAPI
	Table string
}

// Get reads the revocation and its reports (one consistent Query on the partition), the
// reports in enforcer order. It returns an error matching ErrNotFound when there is no
// revocation item (reports without one are not a revocation either).
func (s *Store) Get(ctx context.Context, id string) (Revocation, []Report, error) {
	items, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		KeyConditionExpression:   aws.String("#pk = :id"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":id": &types.AttributeValueMemberS{Value: id},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return Revocation{}, nil, fmt.Errorf("get revocation %s: %w", id, err)
	}
	var (
		rev     Revocation
		found   bool
		reports []Report
	)
	for _, item := range items {
		entry, _ := item[SortKey].(*types.AttributeValueMemberS)
		if entry != nil && entry.Value == EntryRevocation {
			if rev, err = RevocationFromItem(item); err != nil {
				return Revocation{}, nil, fmt.Errorf("get revocation %s: %w", id, err)
			}
			found = true
			continue
		}
		r, err := ReportFromItem(item)
		if err != nil {
			return Revocation{}, nil, fmt.Errorf("get revocation %s: %w", id, err)
		}
		reports = append(reports, r)
	}
	if !found {
		return Revocation{}, nil, fmt.Errorf("get revocation %s: %w", id, ErrNotFound)
	}
	slices.SortFunc(reports, func(a, b Report) int { return cmp.Compare(a.Enforcer, b.Enforcer) })
	return rev, reports, nil
}

// HasReport says whether enforcer's report of revocation id is recorded (a consistent read of
// its item): an enforcer skips a revocation it already reported.
func (s *Store) HasReport(ctx context.Context, id, enforcer string) (bool, error) {
	items, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		KeyConditionExpression:   aws.String("#pk = :id AND #entry = :entry"),
		ExpressionAttributeNames: map[string]string{"#pk": PartitionKey, "#entry": SortKey},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":id":    &types.AttributeValueMemberS{Value: id},
			":entry": &types.AttributeValueMemberS{Value: EnforcerEntry(enforcer)},
		},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return false, fmt.Errorf("read the report of %s on revocation %s: %w", enforcer, id, err)
	}
	return len(items) > 0, nil
}

// OpenRevocations reads every revocation still open (pending or stalled), oldest first, from
// the open index (eventually consistent: read each again with Get before acting on it).
func (s *Store) OpenRevocations(ctx context.Context) ([]Revocation, error) {
	items, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		IndexName:                aws.String(OpenIndex),
		KeyConditionExpression:   aws.String("#open = :open"),
		ExpressionAttributeNames: map[string]string{"#open": AttrOpen},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":open": &types.AttributeValueMemberS{Value: OpenValue},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read the open revocations: %w", err)
	}
	return revocationsOf(items)
}

// OpenBefore reads the revocations still open (pending or stalled) revoked before before,
// oldest first, from the open index (eventually consistent: read each again with Get before
// acting on it). The index orders revokedAt as stored text (RFC 3339 with a trimmed fraction),
// so within the second of before a revocation on a whole second may fall on the wrong side.
func (s *Store) OpenBefore(ctx context.Context, before time.Time) ([]Revocation, error) {
	items, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		IndexName:                aws.String(OpenIndex),
		KeyConditionExpression:   aws.String("#open = :open AND #revokedAt < :before"),
		ExpressionAttributeNames: map[string]string{"#open": AttrOpen, "#revokedAt": AttrRevokedAt},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":open":   &types.AttributeValueMemberS{Value: OpenValue},
			":before": &types.AttributeValueMemberS{Value: attrtime.Format(before)},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("read the revocations open before %s: %w", attrtime.Format(before), err)
	}
	return revocationsOf(items)
}

// ByPartner reads the partner's revocations, newest first, from the by-partner index.
func (s *Store) ByPartner(ctx context.Context, partnerID string) ([]Revocation, error) {
	items, err := s.query(ctx, &dynamodb.QueryInput{
		TableName:                aws.String(s.Table),
		IndexName:                aws.String(PartnerIndex),
		KeyConditionExpression:   aws.String("#partnerId = :partner"),
		ExpressionAttributeNames: map[string]string{"#partnerId": AttrPartnerID},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":partner": &types.AttributeValueMemberS{Value: partnerID},
		},
		ScanIndexForward: aws.Bool(false),
	})
	if err != nil {
		return nil, fmt.Errorf("read the revocations of partner %s: %w", partnerID, err)
	}
	return revocationsOf(items)
}

// List reads every revocation of the table (a Scan, for the ops CLI), newest first. The
// report items it reads on the way are left out.
func List(ctx context.Context, db ScanAPI, table string) ([]Revocation, error) {
	var items []map[string]types.AttributeValue
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: aws.String(table)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan the revocations: %w", err)
		}
		for _, item := range page.Items {
			if e, _ := item[SortKey].(*types.AttributeValueMemberS); e != nil && e.Value == EntryRevocation {
				items = append(items, item)
			}
		}
	}
	out, err := revocationsOf(items)
	if err != nil {
		return nil, err
	}
	slices.SortStableFunc(out, func(a, b Revocation) int { return b.RevokedAt.Compare(a.RevokedAt) })
	return out, nil
}

func revocationsOf(items []map[string]types.AttributeValue) ([]Revocation, error) {
	out := make([]Revocation, 0, len(items))
	for _, item := range items {
		r, err := RevocationFromItem(item)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (s *Store) query(ctx context.Context, in *dynamodb.QueryInput) ([]map[string]types.AttributeValue, error) {
	var out []map[string]types.AttributeValue
	p := dynamodb.NewQueryPaginator(s.DB, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, page.Items...)
	}
	return out, nil
}
