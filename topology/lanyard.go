package topology

import "time"

// ProblemBase is the base of every problem type URI Lanyard answers with.
const ProblemBase = "https://github.com/lanyardhq/lanyard/blob/main/docs/problems.md#"

// GatewayResponses are the problem+json bodies API Gateway (and `lanyard local`) answers with
// when a request never reaches a function. Titles say what API Gateway says. Status 0 keeps
// the status API Gateway chose.
var GatewayResponses = []GatewayResponse{
	{Type: "UNAUTHORIZED", Status: 401, Title: "Unauthorized", Problem: ProblemBase + "unauthorized"},
	{Type: "ACCESS_DENIED", Status: 403, Title: "User is not authorized to access this resource", Problem: ProblemBase + "access-denied"},
	{Type: "MISSING_AUTHENTICATION_TOKEN", Status: 403, Title: "Missing Authentication Token", Problem: ProblemBase + "missing-authentication-token"},
	{Type: "THROTTLED", Status: 429, Title: "Too Many Requests", Problem: ProblemBase + "throttled"},
	{Type: "DEFAULT_4XX", Status: 0, Title: "Bad Request", Problem: ProblemBase + "bad-request"},
	{Type: "DEFAULT_5XX", Status: 0, Title: "Internal Server Error", Problem: ProblemBase + "internal"},
}

// Lanyard is the production declaration. Each function, route, consumer and table of the suite
// is added here as it lands; the tests check every entry has its code and its CDK counterpart.
func Lanyard() *Topology {
	return &Topology{
		Functions: []Function{
			{Name: "healthcheck", Main: "functions/healthcheck", MemoryMB: 128, Timeout: 5 * time.Second},
			// Serves the OpenAPI document (api/openapi.json).
			{Name: "openapi", Main: "functions/openapi", MemoryMB: 128, Timeout: 5 * time.Second},
			// Publishes each outbox record's event to the bus (shared/outbox/relay).
			{Name: "outbox-relay", Main: "functions/outbox-relay", MemoryMB: 256, Timeout: 30 * time.Second,
				Env: map[string]Value{
					"EVENT_BUS":    BusName(true),
					"OUTBOX_TABLE": TableName("outbox", AccessReadWrite),
				}},
		},
		Routes: []Route{
			{Method: "GET", Path: "/v1/health", Function: "healthcheck", Auth: AuthNone},
			{Method: "GET", Path: "/v1/openapi.json", Function: "openapi", Auth: AuthNone},
		},
		GatewayResponses: GatewayResponses,
		StreamConsumers: []StreamConsumer{
			// Retried batches skip records already published; bisection isolates a malformed
			// record, which ends up located in the on-failure queue.
			{Table: "outbox", Function: "outbox-relay", BatchSize: 100, RetryAttempts: 10, BisectOnError: true,
				OnFailureQueue: "outbox-relay-failures"},
		},
		Tables: []Table{
			// Every lifecycle decision's audit record, hash-chained per partner (shared/outbox):
			// seq 0 is the partner's chain head, 1, 2, … its records.
			{Name: "outbox", PartitionKey: Attr{Name: "partnerId", Type: AttrString},
				SortKey: &Attr{Name: "seq", Type: AttrNumber}, Stream: StreamNewImage},
		},
	}
}
