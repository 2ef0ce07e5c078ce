package auditline_test

import (
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/auditline"
)

var update = flag.Bool("update", false, "rewrite testdata/*.line.json")

// fixture reads the events package's fixture of detail type dt, with the record member the relay
// adds when withRecord.
func fixture(t *testing.T, dt string, withRecord bool) events.Envelope {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "events", "testdata", events.SchemaFile(dt)))
	if err != nil {
		t.Fatalf("%s: %v", dt, err)
	}
	var env events.Envelope
	if err := json.Unmarshal(b, &env); err != nil {
		t.Fatalf("%s: %v", dt, err)
	}
	if withRecord {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(env.Detail, &m); err != nil {
			t.Fatal(err)
		}
		m["record"] = json.RawMessage(`{"chain":"p-acme","seq":7,"prevHash":"` + strings.Repeat("a", 64) + `","hash":"` + strings.Repeat("b", 64) + `"}`)
		env.Detail, _ = json.Marshal(m)
	}
	return env
}

// Every detail type has a verb of its own in the table: a type added to events without one
// fails here (Decision would still answer, from the type's name).
func TestEveryDetailTypeHasItsDecision(t *testing.T) {
	t.Parallel()
	seen := map[string]string{}
	for _, dt := range append(events.DetailTypes(), auditline.TypeOnboardingRefusals) {
		d := auditline.Decision(dt)
		fallback := strings.ToLower(strings.ReplaceAll(dt, " ", "-"))
		if d == "" || d == fallback {
			t.Errorf("%s: no decision of its own in auditline's table (Decision answers %q from its name)", dt, d)
		}
		if other, ok := seen[d]; ok {
			t.Errorf("%s and %s share the decision %q", dt, other, d)
		}
		seen[d] = dt
	}
}

func TestDecisionOfAnUnknownTypeIsNeverEmpty(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Keys Counted":       "keys-counted",
		"  Odd   Spacing ":   "odd-spacing",
		"":                   "unknown",
		"Credential Revoked": "revoked",
	} {
		if got := auditline.Decision(in); got != want {
			t.Errorf("Decision(%q) = %q, want %q", in, got, want)
		}
	}
}

// The lines of three fixtures, compared with their goldens: one with the record the relay adds,
// one without (an event that did not come from the outbox), one whose justification is a reason.
func TestFromEventGolden(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		dt     string
		record bool
		golden string
	}{
		{events.TypeCredentialRevoked, true, "credential-revoked.line.json"},
		{events.TypePartnerOnboarded, false, "partner-onboarded.line.json"},
		{events.TypeRevocationCompleted, true, "revocation-completed.line.json"},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			t.Parallel()
			l, err := auditline.FromEvent(fixture(t, tc.dt, tc.record))
			if err != nil {
				t.Fatal(err)
			}
			msg, err := l.Message()
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				var pretty any
				_ = json.Unmarshal([]byte(msg), &pretty)
				b, _ := json.MarshalIndent(pretty, "", "  ")
				if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test ./shared/domain/auditline -update writes it)", err)
			}
			if !jsonEqual(t, []byte(msg), want) {
				t.Errorf("line\n%s\nwant\n%s", msg, want)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// Every fixture's line: the header from Meta and the record, the detail as the event's less
// its record, and every field it carries listed by Fields.
func TestFromEventEveryDetailType(t *testing.T) {
	t.Parallel()
	fields := auditline.Fields()
	for _, dt := range events.DetailTypes() {
		t.Run(dt, func(t *testing.T) {
			t.Parallel()
			env := fixture(t, dt, true)
			_, d, err := events.Decode(mustMarshal(t, env))
			if err != nil {
				t.Fatal(err)
			}
			l, err := auditline.FromEvent(env)
			if err != nil {
				t.Fatal(err)
			}
			h := d.Header()
			if l.Schema != auditline.Schema || l.EventID != h.EventID || l.DetailType != dt || l.Actor != h.Actor ||
				l.PartnerID != h.PartnerID || l.Decision != auditline.Decision(dt) || !l.At().Equal(h.Time) {
				t.Errorf("line header %+v does not match the event's %+v", l, h)
			}
			if l.Chain != "p-acme" || l.Seq != 7 || l.PrevHash != strings.Repeat("a", 64) || l.Hash != strings.Repeat("b", 64) {
				t.Errorf("record: chain %q seq %d prev %q hash %q", l.Chain, l.Seq, l.PrevHash, l.Hash)
			}
			plain := fixture(t, dt, false)
			if !jsonEqual(t, l.Detail, plain.Detail) {
				t.Errorf("detail\n%s\nwant the event's less its record\n%s", l.Detail, plain.Detail)
			}
			msg, err := l.Message()
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal([]byte(msg), &v); err != nil {
				t.Fatal(err)
			}
			for _, f := range flattened("", v) {
				if !slices.Contains(fields, f) {
					t.Errorf("the line carries %q, which Fields does not list", f)
				}
			}
		})
	}
}

// flattened names the leaves of v as Logs Insights does, every array index as 0.
func flattened(prefix string, v any) []string {
	switch x := v.(type) {
	case map[string]any:
		var out []string
		for k, e := range x {
			out = append(out, flattened(prefix+k+".", e)...)
		}
		return out
	case []any:
		var out []string
		for _, e := range x {
			out = append(out, flattened(prefix+"0.", e)...)
		}
		return out
	default:
		return []string{strings.TrimSuffix(prefix, ".")}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFields(t *testing.T) {
	t.Parallel()
	fields := auditline.Fields()
	for _, want := range []string{
		"schema", "eventId", "detailType", "time", "actor.kind", "actor.id", "partnerId", "decision", "justification",
		"chain", "seq", "prevHash", "hash", "count", "windowStart", "windowEnd",
		"detail.eventId", "detail.actor.kind", "detail.keyIds.0", "detail.reason", "detail.note",
		"detail.enforcers.0.enforcer", "detail.enforcers.0.latencyMs", "detail.identity.method", "detail.retireAt",
	} {
		if !slices.Contains(fields, want) {
			t.Errorf("Fields lacks %q", want)
		}
	}
	for _, f := range fields {
		if f == "detail" || f == "actor" || f == "detail.record" || strings.HasPrefix(f, "detail.record.") || strings.HasSuffix(f, ".") {
			t.Errorf("Fields lists %q, which no line carries as a field", f)
		}
	}
	if !slices.IsSorted(fields) || len(slices.Compact(slices.Clone(fields))) != len(fields) {
		t.Error("Fields is not sorted or repeats a name")
	}
}

func TestJustification(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		detail string
		want   string
	}{
		{"justification first", `{"justification":"j","reason":"r","note":"n"}`, "j"},
		{"empty justification, reason", `{"justification":"","reason":"r","note":"n"}`, "r"},
		{"note alone", `{"note":"n"}`, "n"},
		{"none", `{}`, ""},
		{"a reason that is not a string", `{"reason":{"code":1},"note":"n"}`, "n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var m map[string]json.RawMessage
			_ = json.Unmarshal([]byte(tc.detail), &m)
			m["eventId"] = json.RawMessage(`"e-1"`)
			m["time"] = json.RawMessage(`"2026-11-23T12:00:00Z"`)
			m["actor"] = json.RawMessage(`{"kind":"ops","id":"arn:aws:iam::123456789012:role/ops"}`)
			env := events.Envelope{Source: events.Source, ID: "x", DetailType: "Something New", Detail: mustMarshal(t, m)}
			l, err := auditline.FromEvent(env)
			if err != nil {
				t.Fatal(err)
			}
			if l.Justification != tc.want {
				t.Errorf("justification %q, want %q", l.Justification, tc.want)
			}
			if l.PartnerID != events.AllPartners || l.Decision != "something-new" || l.Chain != "" || l.Seq != 0 {
				t.Errorf("line %+v", l)
			}
		})
	}
}

func TestFromEventRefuses(t *testing.T) {
	t.Parallel()
	good := `{"eventId":"e-1","partnerId":"p-1","actor":{"kind":"system","id":"f"},"time":"2026-11-23T12:00:00Z"}`
	for _, tc := range []struct {
		name string
		env  events.Envelope
	}{
		{"another source", events.Envelope{Source: "aws.s3", DetailType: "Credential Revoked", Detail: json.RawMessage(good)}},
		{"no detail type", events.Envelope{Source: events.Source, Detail: json.RawMessage(good)}},
		{"no eventId", events.Envelope{Source: events.Source, DetailType: "Credential Revoked", Detail: json.RawMessage(`{"time":"2026-11-23T12:00:00Z"}`)}},
		{"no time", events.Envelope{Source: events.Source, DetailType: "Credential Revoked", Detail: json.RawMessage(`{"eventId":"e-1"}`)}},
		{"detail not an object", events.Envelope{Source: events.Source, DetailType: "Credential Revoked", Detail: json.RawMessage(`[1]`)}},
		{"detail null", events.Envelope{Source: events.Source, DetailType: "Credential Revoked", Detail: json.RawMessage(`null`)}},
		{"time malformed", events.Envelope{Source: events.Source, DetailType: "Credential Revoked", Detail: json.RawMessage(`{"eventId":"e-1","time":"yesterday"}`)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := auditline.FromEvent(tc.env); !errors.Is(err, auditline.ErrNotAuditable) {
				t.Errorf("FromEvent: %v, want ErrNotAuditable", err)
			}
		})
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("x", 3600))
	l := auditline.Refusals(start, start.Add(time.Minute), "invite-invalid", 4210)
	msg, err := l.Message()
	if err != nil {
		t.Fatal(err)
	}
	want := `{"schema":"lanyard.audit.v1","eventId":"onboarding-refusals/2026-11-23T11:00:00Z/invite-invalid",` +
		`"detailType":"Onboarding Refusals","time":"2026-11-23T11:00:00Z","actor":{"kind":"anonymous","id":""},` +
		`"partnerId":"*","decision":"refused","justification":"invite-invalid","count":4210,` +
		`"windowStart":"2026-11-23T11:00:00Z","windowEnd":"2026-11-23T11:01:00Z"}`
	if msg != want {
		t.Errorf("line\n%s\nwant\n%s", msg, want)
	}
	again := auditline.Refusals(start, start.Add(time.Minute), "invite-invalid", 4211)
	if again.EventID != l.EventID {
		t.Errorf("the same window and reason give eventIds %q and %q", l.EventID, again.EventID)
	}
}

// A justification keeps "<", ">" and "&" as written.
func TestMessageKeepsHTMLCharacters(t *testing.T) {
	t.Parallel()
	l := auditline.Line{Schema: auditline.Schema, EventID: "e", Justification: "a <b> & c", Detail: json.RawMessage(`{"note":"<x>"}`)}
	msg, err := l.Message()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(msg, `"a <b> & c"`) || !strings.Contains(msg, `"<x>"`) || strings.Contains(msg, "\n") {
		t.Errorf("message %s", msg)
	}
}
