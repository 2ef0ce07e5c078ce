// Package topologytest holds a declaration that uses every kind of topology entry, with small
// test functions from integration/functions. It is kept out of the production declaration and
// its CDK app; the CDK builder, the diagram and `lanyard local` are tested against it.
package topologytest

import (
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/topology"
)

// AuthorizerTTL is the sample authorizer's result TTL: short, so a test can watch a cached
// policy expire.
const AuthorizerTTL = 3 * time.Second

// Sample returns a fresh copy of the test declaration.
//
// The recorder consumes the "records" table's stream and writes what it receives into
// "deliveries", a table without a stream: a consumer writing into the table it consumes would
// feed itself its own writes.
func Sample() *topology.Topology {
	sk := topology.Attr{Name: "sk", Type: topology.AttrString}
	pk := topology.Attr{Name: "pk", Type: topology.AttrString}
	return &topology.Topology{
		Functions: []topology.Function{
			{Name: "probe", Main: "integration/functions/probe", MemoryMB: 128, Timeout: 5 * time.Second,
				Env: map[string]topology.Value{"PROBE_MODE": topology.Literal("echo")}},
			{Name: "recorder", Main: "integration/functions/recorder", MemoryMB: 128, Timeout: 5 * time.Second,
				Env: map[string]topology.Value{
					"RECORDER_TABLE": topology.TableName("deliveries", topology.AccessReadWrite),
					"EVENT_BUS":      topology.BusName(true),
				}},
			{Name: "stub-authorizer", Main: "integration/functions/stub-authorizer", MemoryMB: 128, Timeout: 5 * time.Second},
		},
		Authorizer: &topology.Authorizer{Function: "stub-authorizer", IdentityHeader: "Authorization", ResultTTL: AuthorizerTTL},
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
			{Name: "records", PartitionKey: pk, SortKey: &sk,
				Indexes:      []topology.Index{{Name: "by-sk", PartitionKey: sk}},
				TTLAttribute: "expiresAt", Stream: topology.StreamNewAndOldImage},
			{Name: "deliveries", PartitionKey: pk, SortKey: &sk},
		},
		Schedules: []topology.Schedule{
			{Name: "probe-tick", Function: "probe", Expression: "rate(1 minute)"},
		},
	}
}
