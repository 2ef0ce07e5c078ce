// Command outbox-relay is the Lambda function on the outbox table's stream: it publishes each
// outbox record's event to the Lanyard bus, once per event id (shared/features/relay).
package main

import (
	"context"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/lanyardhq/lanyard/shared/features/relay"
	"github.com/lanyardhq/lanyard/shared/platform/lambdastart"
)

type config struct {
	EventBus    string `env:"EVENT_BUS"`
	OutboxTable string `env:"OUTBOX_TABLE"`
}

func main() {
	lambdastart.Start(func(_ context.Context, s lambdastart.Setup[config]) (any, error) {
		r := &relay.Relay{DB: dynamodb.NewFromConfig(s.AWS), Events: eventbridge.NewFromConfig(s.AWS),
			Table: s.Config.OutboxTable, Bus: s.Config.EventBus, Now: time.Now}
		return r.Handle, nil
	})
}
