// Command outbox-relay is the Lambda function on the outbox table's stream: it publishes each
// outbox record's event to the Lanyard bus, once per event id (shared/features/relay).
//
// Environment: EVENT_BUS (the bus's name) and OUTBOX_TABLE (the outbox table's name).
package main

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/eventbridge"

	"github.com/lanyardhq/lanyard/shared/features/relay"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
	"github.com/lanyardhq/lanyard/shared/platform/logging"
)

func main() {
	slog.SetDefault(logging.New())
	bus, table := os.Getenv("EVENT_BUS"), os.Getenv("OUTBOX_TABLE")
	if bus == "" || table == "" {
		slog.Error("EVENT_BUS and OUTBOX_TABLE must be set", "eventBusSet", bus != "", "outboxTableSet", table != "")
		os.Exit(1)
	}
	cfg, err := awsconfig.Load(context.Background())
	if err != nil {
		slog.Error("load AWS configuration", "error", err)
		os.Exit(1)
	}
	r := &relay.Relay{
		DB:     dynamodb.NewFromConfig(cfg),
		Events: eventbridge.NewFromConfig(cfg),
		Table:  table,
		Bus:    bus,
		Now:    time.Now,
	}
	lambda.Start(r.Handle)
}
