package registry

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// QueryAPI is the part of the DynamoDB client ByPartner uses.
type QueryAPI interface {
	Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

var _ QueryAPI = (*dynamodb.Client)(nil)

// PartnerKeysInput is the Query of every entry of partnerID through the by-partner index.
func PartnerKeysInput(table, partnerID string) *dynamodb.QueryInput {
	return &dynamodb.QueryInput{
		TableName:                 aws.String(table),
		IndexName:                 aws.String(PartnerIndex),
		KeyConditionExpression:    aws.String("#pid = :pid"),
		ExpressionAttributeNames:  map[string]string{"#pid": AttrPartnerID},
		ExpressionAttributeValues: map[string]types.AttributeValue{":pid": &types.AttributeValueMemberS{Value: partnerID}},
	}
}

// ByPartner reads the registry's entries by partner, through the by-partner index.
type ByPartner struct {
	DB    QueryAPI
	Table string
}

// Keys reads every registry entry of partnerID, every page. The index is eventually
// consistent: a write of the last second may not show yet.
func (b *ByPartner) Keys(ctx context.Context, partnerID string) ([]Entry, error) {
	var out []Entry
	p := dynamodb.NewQueryPaginator(b.DB, PartnerKeysInput(b.Table, partnerID))
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("read the keys of partner %s: %w", partnerID, err)
		}
		for _, item := range page.Items {
			e, err := EntryFromItem(item)
			if err != nil {
				return nil, fmt.Errorf("read the keys of partner %s: %w", partnerID, err)
			}
			if e.PartnerID != partnerID {
				return nil, fmt.Errorf("read the keys of partner %s: key %s is partner %s's", partnerID, e.KeyID, e.PartnerID)
			}
			out = append(out, e)
		}
	}
	return out, nil
}
