// Package metrics writes CloudWatch metrics in the embedded metric format (EMF): each flush is
// one JSON object on one line of the function's log stream, and CloudWatch Logs extracts the
// metrics from it. No CloudWatch API is called and no permission beyond writing logs is needed.
//
// The format is CloudWatch's "Specification: Embedded metric format"
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html).
// A document written here has the shape
//
//	{"_aws":{"Timestamp":1767225600000,"CloudWatchMetrics":[{"Namespace":"Lanyard",
//	  "Dimensions":[["Function","Outcome"]],
//	  "Metrics":[{"Name":"Requests","Unit":"Count"},{"Name":"Latency","Unit":"Milliseconds","StorageResolution":1}]}]},
//	 "Function":"token","Outcome":"issued","Requests":1,"Latency":[12.5,8]}
//
// `_aws` comes first and holds the timestamp (milliseconds since the epoch) and one metric
// directive: the namespace, one dimension set naming the caller's dimensions, and the metric
// definitions. The dimension values and the metric values are the other top-level members, in
// the order the caller gave them; a metric with one value is a number, with more an array.
//
// # What is checked before anything is written
//
// A document that breaks a rule is refused whole with an error and nothing is written:
//
//   - the namespace: 1 to 255 printable ASCII characters, not starting with ':' or "AWS/";
//   - dimensions: at most 30 (the spec's limit for a dimension set), names 1 to 255 and values
//     1 to 1024 printable ASCII characters with at least one that is not a space, names not
//     starting with ':';
//   - metrics: 1 to 100 per document, names 1 to 255 printable ASCII characters, units from
//     CloudWatch's list (the Unit constants), a storage resolution of 1 or 60 seconds, 1 to 100
//     values each, every value a finite number;
//   - every member name (dimension or metric) unique and none "_aws";
//   - the encoded line at most 256 KiB, the smaller of the sizes CloudWatch Logs has allowed one
//     event.
//
// # Dimensions never name a partner or a key
//
// The caller chooses the dimensions, and a dimension is the one place a value becomes part of a
// metric's identity, lives for 15 months and is visible to everyone who can read metrics. So
// every dimension name and value, the metric names and the namespace are refused when they have
// the shape of something that identifies one partner or one key, or of a secret:
//
//   - anything containing "lnyd_" (a partner key's prefix, in any case: a whole key, a
//     truncated one, or one inside a header value);
//   - a key id: "k" and 20 base32 characters standing alone (it is public, but it names one
//     key);
//   - a per-entity id: "-" followed by 26 base32 characters (partner ids "p-…", invite and
//     onboarding ids);
//   - a run of 20 or more letters and digits that mixes both (secrets, hashes, verifiers,
//     tokens, request ids).
//
// The refusal says which member was refused and why, never its value. This package is in the
// platform layer and imports nothing of Lanyard's domain: the shapes above are written here,
// and the tests of shared/domain/credential and shared/features/partner feed this guard the
// keys, key ids and partner ids their own code mints, so a change of either format that the
// guard would miss fails a test.
//
// Per-partner figures belong in the log line's ordinary fields or in the audit trail; a metric
// takes low-cardinality dimensions: the function, the route, the outcome, the tier.
//
// # How metrics reach the log
//
// A Writer writes each document with one Write call of one line to the io.Writer it was given.
// In Lambda that is os.Stdout, the stream the function's slog logger (logging.New, the
// lambdacontext handler) writes to: CloudWatch Logs receives every line there as one event and
// extracts the metrics from those that follow the format. On an OS-only runtime Lambda's JSON
// log format applies to its own system logs only, and it does not encode again a line that is
// already JSON, so the line reaches CloudWatch Logs as written
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-logformat.html).
//
// The document does not go through slog itself, by choice: the spec requires `_aws` and every
// dimension and metric as top-level members, which a slog record can carry, but the handler
// would also add its own members (time, level, msg or the renamed timestamp, level, message,
// requestId) that a dimension or metric of the same name would collide with, the logger's
// level would silently drop metrics (LANYARD_LOG_LEVEL=ERROR would turn them off), and a
// ReplaceAttr could rename or drop the members the directive points at. Writing the document
// whole keeps it exactly as validated. Tests give the Writer a buffer.
//
// # Usage
//
//	w, err := metrics.New(os.Stdout, "Lanyard") // once per cold start, in main
//	if err != nil { ... }
//	set := w.Set(metrics.Dimension{Name: "Function", Value: "token"}, metrics.Dimension{Name: "Outcome", Value: "issued"})
//	set.Add("Requests", metrics.Count, 1)
//	set.Add("Latency", metrics.Milliseconds, float64(elapsed.Milliseconds()))
//	if err := set.Flush(); err != nil { // one line; the set is empty again afterwards
//		slog.WarnContext(ctx, "metrics not written", "error", err)
//	}
//
// Writer.Emit writes a Document built in one go. A Writer and a Set are safe for concurrent
// use.
package metrics
