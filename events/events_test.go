package events_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
)

func readJSON(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return reflect.DeepEqual(x, y)
}

// Every detail type has a schema and a fixture, and nothing else lies in those folders.
func TestEveryDetailTypeHasSchemaAndFixture(t *testing.T) {
	t.Parallel()
	want := map[string]bool{"common.json": true}
	for _, dt := range events.DetailTypes() {
		f := events.SchemaFile(dt)
		want[f] = true
		if _, err := events.Schema(dt); err != nil {
			t.Errorf("%s: %v", dt, err)
		}
		if _, err := os.Stat(filepath.Join("testdata", f)); err != nil {
			t.Errorf("%s: no fixture testdata/%s", dt, f)
		}
		var s struct {
			Title  string `json:"title"`
			Schema string `json:"$schema"`
		}
		b, _ := events.Schema(dt)
		if err := json.Unmarshal(b, &s); err != nil || s.Title != dt || s.Schema != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: schema title %q / $schema %q", dt, s.Title, s.Schema)
		}
	}
	entries, err := os.ReadDir("schemas")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !want[e.Name()] {
			t.Errorf("schemas/%s belongs to no detail type", e.Name())
		}
	}
	fixtures, _ := filepath.Glob("testdata/*.json")
	for _, f := range fixtures {
		if !want[filepath.Base(f)] {
			t.Errorf("%s belongs to no detail type", f)
		}
	}
}

// fixture → schema-valid → Go type → JSON equal to the fixture.
func TestFixturesRoundTrip(t *testing.T) {
	t.Parallel()
	for _, dt := range events.DetailTypes() {
		t.Run(dt, func(t *testing.T) {
			t.Parallel()
			raw := readJSON(t, filepath.Join("testdata", events.SchemaFile(dt)))
			if err := events.Validate(raw); err != nil {
				t.Fatalf("fixture fails its schema: %v", err)
			}
			env, d, err := events.Decode(raw)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if d.DetailType() != dt || env.DetailType != dt {
				t.Fatalf("decoded %q as %T", dt, d)
			}
			gotType, detail, err := events.Marshal(d)
			if err != nil || gotType != dt {
				t.Fatalf("Marshal: %q %v", gotType, err)
			}
			env.Detail = detail
			back, err := json.Marshal(env)
			if err != nil {
				t.Fatal(err)
			}
			if !jsonEqual(t, raw, back) {
				t.Errorf("round trip differs:\nfixture %s\nagain   %s", raw, back)
			}
		})
	}
}

func TestInvalidFixturesAreRefusedNamingTheField(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"missing-event-id.json":          "/detail: missing property 'eventId'",
		"wrong-type.json":                "/detail/scopes: got string, want array",
		"unknown-detail-type.json":       `/detail-type: unknown detail type "Credential Borrowed"`,
		"unexpected-field.json":          "/detail/secret: unknown field, not allowed",
		"foreign-source.json":            "/source: value must be 'lanyard'",
		"unknown-enforcer.json":          "/detail/enforcer: value must be one of",
		"bad-time.json":                  "/detail/time: 'yesterday' is not valid date-time",
		"empty-reason.json":              "/detail/reason: minLength: got 0, want 1",
		"unknown-revocation-reason.json": "/detail/reason: value must be one of",
	}
	files, _ := filepath.Glob("testdata/invalid/*.json")
	if len(files) != len(cases) {
		t.Errorf("%d invalid fixtures, %d expectations", len(files), len(cases))
	}
	for name, want := range cases {
		err := events.Validate(readJSON(t, filepath.Join("testdata/invalid", name)))
		if err == nil {
			t.Errorf("%s: validated", name)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %q does not contain %q", name, err, want)
		}
	}
}

func TestDecodeRefusals(t *testing.T) {
	t.Parallel()
	_, _, err := events.Decode(readJSON(t, "testdata/invalid/unknown-detail-type.json"))
	if !errors.Is(err, events.ErrUnknownDetailType) {
		t.Errorf("unknown detail type: %v", err)
	}
	if _, _, err := events.Decode(readJSON(t, "testdata/invalid/foreign-source.json")); err == nil {
		t.Error("foreign source decoded")
	}
	if _, _, err := events.Decode(readJSON(t, "testdata/invalid/missing-event-id.json")); err == nil {
		t.Error("event without id decoded")
	}
	if _, _, err := events.Decode([]byte("{")); err == nil {
		t.Error("broken JSON decoded")
	}
}

func TestNewMetaStampsEveryEvent(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 23, 13, 0, 0, 0, time.FixedZone("CET", 3600))
	actor := events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::123456789012:role/ops"}
	a := events.NewMeta("p-acme", actor, now)
	b := events.NewMeta("p-acme", actor, now)
	if a.EventID == "" || a.EventID == b.EventID {
		t.Fatalf("event ids must be unique: %q %q", a.EventID, b.EventID)
	}
	if a.PartnerID != "p-acme" || a.Actor != actor || !a.Time.Equal(now) || a.Time.Location() != time.UTC {
		t.Fatalf("meta not stamped: %+v", a)
	}

	// A stamped event marshals into a schema-valid envelope.
	ev := events.CredentialRevoked{Meta: a, RevocationID: "r_1", KeyIDs: []string{"k_1"}, Reason: "compromised"}
	dt, detail, err := events.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := json.Marshal(events.Envelope{Version: "0", ID: "x", DetailType: dt, Source: events.Source,
		Account: "123456789012", Time: now, Region: "eu-west-1", Resources: []string{}, Detail: detail})
	if err := events.Validate(env); err != nil {
		t.Fatalf("constructed event fails its schema: %v", err)
	}
	if _, _, err := events.Marshal(events.CredentialRevoked{}); err == nil {
		t.Error("an event without Meta marshalled")
	}
}
