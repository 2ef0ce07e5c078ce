package token

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
)

// The token function's environment.
const (
	// EnvRoleARN is the partner-access role's ARN.
	EnvRoleARN = "PARTNER_ACCESS_ROLE_ARN"
	// EnvStageARN is the partner API stage's execute-api ARN,
	// "arn:<partition>:execute-api:<region>:<account>:<api>/<stage>".
	EnvStageARN = "PARTNER_API_ARN"
	// EnvCredentialsTable is the key registry's table name (read only).
	EnvCredentialsTable = "CREDENTIALS_TABLE"
	// EnvOutboxTable is the outbox table's name: each exchange's record.
	EnvOutboxTable = "OUTBOX_TABLE"
)

// Config is the token function's configuration (shared/platform/lambdastart reads it).
type Config struct {
	RoleARN          string `env:"PARTNER_ACCESS_ROLE_ARN"`
	StageARN         string `env:"PARTNER_API_ARN"`
	CredentialsTable string `env:"CREDENTIALS_TABLE"`
	OutboxTable      string `env:"OUTBOX_TABLE"`
}

// FromEnv builds the handler of the token function from its environment (getenv is
// os.Getenv), with clients from cfg, and checks it (Check). stsOptions apply to the STS client
// only: the integration test build adds a capturing middleware through them, so it runs this
// same wiring. The error names missing variables, never a value.
func FromEnv(getenv func(string) string, cfg aws.Config, pol *policy.Policy, stsOptions ...func(*sts.Options)) (*Handler, error) {
	var missing []string
	env := map[string]string{}
	for _, name := range []string{EnvRoleARN, EnvStageARN, EnvCredentialsTable, EnvOutboxTable} {
		env[name] = getenv(name)
		if env[name] == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("token function: environment variables must be set: %s", strings.Join(missing, ", "))
	}
	return New(Config{RoleARN: env[EnvRoleARN], StageARN: env[EnvStageARN], CredentialsTable: env[EnvCredentialsTable], OutboxTable: env[EnvOutboxTable]}, cfg, pol, stsOptions...)
}

// New builds the handler of the token function from its configuration c, with clients from
// cfg, and checks it (Check). It takes the environment's lane (NewLane): call it once per cold
// start.
func New(c Config, cfg aws.Config, pol *policy.Policy, stsOptions ...func(*sts.Options)) (*Handler, error) {
	if pol == nil {
		return nil, errors.New("token function: no policy")
	}
	db := dynamodb.NewFromConfig(cfg)
	h := &Handler{
		STS:              sts.NewFromConfig(cfg, stsOptions...),
		DB:               db,
		CredentialsTable: c.CredentialsTable,
		Outbox:           &outbox.Store{DB: db, Table: c.OutboxTable},
		Lane:             NewLane(),
		RoleARN:          c.RoleARN,
		StageARN:         c.StageARN,
		Policy:           pol,
		Now:              time.Now,
	}
	if err := h.Check(); err != nil {
		return nil, err
	}
	return h, nil
}
