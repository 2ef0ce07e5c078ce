package partner_test

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
)

const (
	partnersTable    = "partners"
	credentialsTable = "credentials"
)

func newDB(t *testing.T) *dynamodbtest.DynamoDB {
	t.Helper()
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(partnersTable, dynamodbtest.KeyAttr{Name: "partnerId", Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable(credentialsTable, dynamodbtest.KeyAttr{Name: "keyId", Type: types.ScalarAttributeTypeS}, nil)
	return db
}

func acme() partners.Partner {
	return partners.Partner{
		PartnerID:      "p-aaaaaaaaaaaaaaaaaaaaaaaaaa",
		PartnerName:    "Acme Logistics",
		Tier:           "standard",
		Scopes:         []string{"orders:read", "orders:write"},
		Status:         partners.StatusActive,
		KeyID:          "ku36uznzhc225sgjotcsh",
		SecretARN:      "arn:aws:secretsmanager:us-east-1:123456789012:secret:lanyard/partners/p-aaaaaaaaaaaaaaaaaaaaaaaaaa-AbCdEf",
		IdentityMethod: partners.IdentityMethodInvite,
		InviteID:       "inv-bbbbbbbbbbbbbbbbbbbbbbbbbb",
		Justification:  "all 2 requested scopes are allowed for tier standard (policy revision 3)",
		PolicyRevision: 3,
		CreatedAt:      time.Date(2026, 11, 23, 12, 0, 0, 5000, time.UTC),
	}
}
