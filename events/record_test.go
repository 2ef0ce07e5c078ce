package events_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lanyardhq/lanyard/events"
)

// The relay adds where a record sits to the detail it publishes; a consumer reads it from
// Meta.Record, and every other member stays byte for byte.
func TestWithRecord(t *testing.T) {
	t.Parallel()
	d := &events.CredentialRotationAcknowledged{Meta: events.NewMeta("p-acme", events.Actor{Kind: events.ActorPartner, ID: "p-acme"}, time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)), KeyID: "k1"}
	typ, stored, err := events.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(stored), `"record"`) {
		t.Fatalf("a committed event carries a record: %s", stored)
	}
	ref := events.RecordRef{Chain: "p-acme", Seq: 7, PrevHash: strings.Repeat("a", 64), Hash: strings.Repeat("b", 64)}
	published, err := events.WithRecord(stored, ref)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"record":{"chain":"p-acme","seq":7,"prevHash":"` + ref.PrevHash + `","hash":"` + ref.Hash + `"},` + string(stored[1:]); string(published) != want {
		t.Errorf("published detail\n%s\nwant\n%s", published, want)
	}
	env, err := json.Marshal(events.Envelope{Version: "0", ID: "bus-1", DetailType: typ, Source: events.Source, Time: d.Time, Resources: []string{}, Detail: published})
	if err != nil {
		t.Fatal(err)
	}
	_, got, err := events.Decode(env)
	if err != nil {
		t.Fatal(err)
	}
	if r := got.Header().Record; r == nil || *r != ref {
		t.Errorf("decoded record %+v, want %+v", r, ref)
	}

	for name, detail := range map[string]string{
		"not an object":      `[1]`,
		"not JSON":           `{"a":`,
		"a record already":   string(published),
		"an empty object ok": `{}`,
	} {
		_, err := events.WithRecord(json.RawMessage(detail), ref)
		if (err == nil) != strings.HasSuffix(name, " ok") {
			t.Errorf("%s: error %v", name, err)
		}
	}
	if out, _ := events.WithRecord(json.RawMessage(`{}`), ref); !json.Valid(out) {
		t.Errorf("record added to an empty object: %s is not JSON", out)
	}
}
