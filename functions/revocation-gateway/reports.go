package main

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/shared/features/gatewayenforcer"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
)

// reports is the enforcer's view of the revocations table (shared/stores/revocations): whether
// its report of a revocation exists, and the report's item for the commit with Revocation
// Enforced.
type reports struct {
	store *revocations.Store
}

var _ gatewayenforcer.Reports = reports{}

func (r reports) Reported(ctx context.Context, revocationID, enforcer string) (bool, error) {
	return r.store.HasReport(ctx, revocationID, enforcer)
}

func (r reports) Put(g gatewayenforcer.Report) (types.TransactWriteItem, error) {
	return revocations.Reported(r.store.Table, revocations.Report(g))
}
