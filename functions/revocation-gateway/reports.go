package main

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/features/gatewayenforcer"
)

// errReportsUnwired: the enforcer's reports go to the revocations table
// (shared/stores/revocations), which this build does not have yet.
var errReportsUnwired = errors.New("the revocations store is not wired in: no report can be read or recorded")

// newReports is the enforcer's view of the revocations table. Until the revocations store is
// wired in, every record fails (and ends in the consumer's DLQ after its receives).
func newReports(_ *dynamodb.Client) gatewayenforcer.Reports { return unwiredReports{} }

type unwiredReports struct{}

func (unwiredReports) Reported(context.Context, string, string) (bool, error) {
	return false, errReportsUnwired
}

func (unwiredReports) Put(gatewayenforcer.Report) (types.TransactWriteItem, error) {
	return types.TransactWriteItem{}, errReportsUnwired
}
