// Command retirement is the scheduled function that retires previous partner keys once the
// partner acknowledged the new key and the drain window passed, or their grace ended; warns ops
// once before an unacknowledged grace ends; and flushes the REST API's authorizer cache after
// retiring keys (shared/features/rollover.Retirer).
package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/apigateway"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	rollover.Tables
	// The execute-api ARN of the stage whose authorizer cache FlushStageAuthorizersCache
	// flushes (under `lanyard local`, AWS_ENDPOINT_URL_API_GATEWAY points at the front).
	PartnerAPIARN string `env:"PARTNER_API_ARN"`
	Policy        policy.Loaded
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		apiID, stage, err := rollover.ParseStageARN(s.Config.PartnerAPIARN)
		if err != nil {
			return nil, fmt.Errorf("PARTNER_API_ARN: %w", err)
		}
		return (&rollover.Retirer{DB: dynamodb.NewFromConfig(s.AWS), Tables: s.Config.Tables,
			Gateway: apigateway.NewFromConfig(s.AWS), RestAPIID: apiID, Stage: stage, Policy: s.Config.Policy.Policy, Now: time.Now}).Handle, nil
	})
}
