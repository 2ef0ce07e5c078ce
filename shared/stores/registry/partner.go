package registry

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/domain/credential"
)

// QueryAPI is the part of the DynamoDB client ByPartner and PartnerKeyIDs use.
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

// maxPartnerKeyPages bounds the pages PartnerKeyIDs reads: a partner has a handful of keys
// per rotation, and each page holds hundreds.
const maxPartnerKeyPages = 20

// PartnerKeyIDs lists the ids of every key registered to partnerID, whatever its status,
// through the by-partner index. The index is eventually consistent: a key registered a moment
// ago may be missing, so a caller that must see every key also reads the ids the partner's
// item names, and reads each entry again consistently (GetEntries) before acting on it.
func PartnerKeyIDs(ctx context.Context, db QueryAPI, table, partnerID string) ([]credential.KeyID, error) {
	in := PartnerKeysInput(table, partnerID)
	in.ProjectionExpression = aws.String("#keyId")
	in.ExpressionAttributeNames["#keyId"] = PartitionKey
	var ids []credential.KeyID
	for page := 0; ; page++ {
		if page == maxPartnerKeyPages {
			return nil, fmt.Errorf("list the keys of partner %s: more than %d pages", partnerID, maxPartnerKeyPages)
		}
		out, err := db.Query(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("list the keys of partner %s: %w", partnerID, err)
		}
		for _, item := range out.Items {
			v, ok := item[PartitionKey].(*types.AttributeValueMemberS)
			if !ok {
				return nil, fmt.Errorf("list the keys of partner %s: an index item without a string %s", partnerID, PartitionKey)
			}
			id, err := credential.ParseKeyID(v.Value)
			if err != nil {
				return nil, fmt.Errorf("list the keys of partner %s: %w", partnerID, err)
			}
			ids = append(ids, id)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return ids, nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
}
