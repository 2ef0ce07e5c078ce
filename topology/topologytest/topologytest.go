// Package topologytest holds a declaration that uses every kind of topology entry, with small
// test functions from integration/functions. It is kept out of the production declaration and
// its CDK app; the CDK builder, the diagram and `lanyard local` are tested against it.
package topologytest

import (
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/topology"
)

// Sample returns a fresh copy of the test declaration.
func Sample() *topology.Topology {
	sk := topology.Attr{Name: "sk", Type: topology.AttrString}
	return &topology.Topology{
		Functions: []topology.Function{
			{Name: "probe", Main: "integration/functions/probe", MemoryMB: 128, Timeout: 5 * time.Second,
				Env: map[string]topology.Value{"PROBE_MODE": topology.Literal("echo")}},
			{Name: "recorder", Main: "integration/functions/recorder", MemoryMB: 128, Timeout: 5 * time.Second,
				Env: map[string]topology.Value{
					"RECORDER_TABLE": topology.TableName("records", topology.AccessReadWrite),
					"EVENT_BUS":      topology.BusName(true),
				}},
		},
		Authorizer: &topology.Authorizer{Function: "probe", IdentityHeader: "Authorization", ResultTTL: 60 * time.Second},
		Routes: []topology.Route{
			{Method: "GET", Path: "/v1/probe", Function: "probe", Auth: topology.AuthPartnerKey},
			{Method: "POST", Path: "/v1/probe/{id}", Function: "probe", Auth: topology.AuthPartnerKey},
			{Method: "POST", Path: "/v1/admin/probe", Function: "probe", Auth: topology.AuthIAM},
			{Method: "GET", Path: "/v1/open", Function: "probe", Auth: topology.AuthNone},
		},
		GatewayResponses: topology.GatewayResponses,
		Consumers: []topology.Consumer{
			{Name: "revocations", Function: "recorder", DetailTypes: []string{events.TypeCredentialRevoked},
				BatchSize: 10, BatchingWindow: time.Second, VisibilityTimeout: 30 * time.Second, MaxReceiveCount: 2},
		},
		StreamConsumers: []topology.StreamConsumer{
			{Table: "records", Function: "recorder", BatchSize: 10, RetryAttempts: 2, BisectOnError: true, OnFailureQueue: "records-stream-failures"},
		},
		Tables: []topology.Table{
			{Name: "records", PartitionKey: topology.Attr{Name: "pk", Type: topology.AttrString}, SortKey: &sk,
				Indexes:      []topology.Index{{Name: "by-sk", PartitionKey: sk}},
				TTLAttribute: "expiresAt", Stream: topology.StreamNewAndOldImage},
		},
		Schedules: []topology.Schedule{
			{Name: "probe-tick", Function: "probe", Expression: "rate(1 minute)"},
		},
	}
}
