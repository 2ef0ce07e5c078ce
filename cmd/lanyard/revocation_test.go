package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/itemtest"
	"github.com/lanyardhq/lanyard/shared/stores/revocations"
	"github.com/lanyardhq/lanyard/topology"
)

const (
	revTable = "lanyard-RevocationsTable-XYZ"
	revA     = "rev-0195f3a2-7c4e-7d1a-9b2c-3d4e5f600001"
	revB     = "rev-0195f3a2-7c4e-7d1a-9b2c-3d4e5f600002"
	revC     = "rev-0195f3a2-7c4e-7d1a-9b2c-3d4e5f600003"
)

var revT0 = time.Date(2026, 3, 1, 12, 0, 0, 500000000, time.UTC)

// revocationWorld is a revocations table in the DynamoDB fake, keyed and indexed as declared.
type revocationWorld struct {
	t      *testing.T
	db     *dynamodbtest.DynamoDB
	table  string
	target *rotationTarget
}

func newRevocationWorld(t *testing.T, table string) *revocationWorld {
	t.Helper()
	decl, ok := topology.Lanyard().Table("revocations")
	if !ok {
		t.Fatal("no revocations table declared")
	}
	key := func(a *topology.Attr) *dynamodbtest.KeyAttr {
		return &dynamodbtest.KeyAttr{Name: a.Name, Type: types.ScalarAttributeType(a.Type)}
	}
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable(table, *key(&decl.PartitionKey), key(decl.SortKey))
	for _, ix := range decl.Indexes {
		db.CreateIndex(table, ix.Name, *key(&ix.PartitionKey), key(ix.SortKey))
	}
	return &revocationWorld{t: t, db: db, table: table}
}

func (w *revocationWorld) connect(_ context.Context, t rotationTarget) (revocations.ScanAPI, error) {
	w.target = &t
	return w.db, nil
}

func (w *revocationWorld) commit(items ...types.TransactWriteItem) {
	w.t.Helper()
	if _, err := w.db.TransactWriteItems(w.t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: items}); err != nil {
		w.t.Fatal(err)
	}
}

// add opens a revocation of partner, revoked after d, with note.
func (w *revocationWorld) add(id, partner string, d time.Duration, note string) {
	w.t.Helper()
	w.commit(itemtest.Must(revocations.Open(w.table, revocations.Revocation{ID: id, PartnerID: partner, KeyIDs: []string{"kabcdefghijklmnopqrst"},
		Reason: events.RevocationLeaked, Note: note, Actor: events.Actor{Kind: events.ActorOps, ID: "arn:aws:iam::123456789012:role/ops"},
		RevokedAt: revT0.Add(d)}))(w.t))
}

func (w *revocationWorld) report(id, partner, enforcer string, d time.Duration) {
	w.t.Helper()
	w.commit(itemtest.Must(revocations.Reported(w.table, revocations.Report{RevocationID: id, Enforcer: enforcer, PartnerID: partner,
		EventID: "ev-1", EnforcedAt: revT0.Add(d), LatencyMS: d.Milliseconds()}))(w.t))
}

// runRevocation runs `lanyard` with the revocation commands wired to connect, as run() does.
func runRevocation(connect revocationClients, args ...string) (code int, stdout, stderr string) {
	var outBuf, errBuf bytes.Buffer
	out := &output{w: &outBuf, format: "table"}
	root := &cobra.Command{Use: "lanyard", PersistentPreRunE: func(*cobra.Command, []string) error { return out.check() }, SilenceErrors: true, SilenceUsage: true}
	root.PersistentFlags().StringVarP(&out.format, "output", "o", "table", "")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newRevocationCmd(out, connect))
	root.SetArgs(args)
	root.SetOut(&outBuf)
	root.SetErr(&errBuf)
	if err := root.ExecuteContext(context.Background()); err != nil {
		errBuf.WriteString("lanyard: " + strings.ReplaceAll(err.Error(), "\n", "; ") + "\n")
		var u usageError
		if errors.As(err, &u) {
			return 2, outBuf.String(), errBuf.String()
		}
		return 1, outBuf.String(), errBuf.String()
	}
	return 0, outBuf.String(), errBuf.String()
}

// A revocation's status shows each expected enforcer (the deployment's, and one no longer
// declared whose report is in) with when it enforced and its latency, or missing.
func TestRevocationStatusOfARevocation(t *testing.T) {
	w := newRevocationWorld(t, revTable)
	w.add(revA, pOn, 0, "found in a \x1b[2Jpaste")
	w.report(revA, pOn, "legacy", 1500*time.Millisecond)
	w.commit(revocations.Stall(w.table, revA, revT0.Add(3*time.Minute)))

	code, out, errOut := runRevocation(w.connect, "revocation", "status", revA, "--table", revTable)
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	flat := regexp.MustCompile(` {2,}`).ReplaceAllString(out, " | ")
	for _, want := range []string{
		"revocation | " + revA, "partner | " + pOn, "reason | leaked: found in a [2Jpaste", "by | ops:arn:aws:iam::123456789012:role/ops",
		"status | stalled", "stalled at | 2026-03-01T12:03:00.5Z", "revoked at | 2026-03-01T12:00:00.5Z",
		"legacy (not declared) | 2026-03-01T12:00:02Z | 1500 ms",
	} {
		if !strings.Contains(flat, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	for _, e := range topology.Lanyard().Enforcers() {
		if !strings.Contains(flat, e+" | missing | -") {
			t.Errorf("status does not show the declared enforcer %s as missing:\n%s", e, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("the note's escape reached the terminal: %q", out)
	}
	if w.target == nil || w.target.Local {
		t.Errorf("connected to %+v, want AWS", w.target)
	}
}

// A partner's revocations, newest first, as JSON, from `lanyard local`'s table by its prefix.
func TestRevocationStatusOfAPartnerJSON(t *testing.T) {
	w := newRevocationWorld(t, "demo-revocations")
	w.add(revA, pOn, 0, "")
	w.add(revB, pOn, time.Minute, "")
	w.add(revC, pOff, 2*time.Minute, "")
	w.report(revA, pOn, events.EnforcerGateway, 36*time.Second)
	w.commit(revocations.Complete(w.table, revA, revocations.StatusPending, revT0.Add(37*time.Second), 36000))

	code, out, errOut := runRevocation(w.connect, "revocation", "status", pOn, "--prefix", "demo", "-o", "json")
	if code != 0 || errOut != "" {
		t.Fatalf("exit %d, stderr %q\n%s", code, errOut, out)
	}
	var got struct {
		Revocations []revocationView `json:"revocations"`
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("stdout is not the revocations: %v\n%s", err, out)
	}
	if len(got.Revocations) != 2 || got.Revocations[0].RevocationID != revB || got.Revocations[1].RevocationID != revA {
		t.Fatalf("revocations %+v, want revB then revA", got.Revocations)
	}
	a := got.Revocations[1]
	if a.Status != "completed" || a.TimeToEnforceMS == nil || *a.TimeToEnforceMS != 36000 || a.CompletedAt == nil {
		t.Errorf("revA %+v", a)
	}
	var gw *enforcerView
	for i, e := range a.Enforcers {
		if e.Enforcer == events.EnforcerGateway {
			gw = &a.Enforcers[i]
		}
	}
	if gw == nil || !gw.Reported || gw.LatencyMS == nil || *gw.LatencyMS != 36000 || !gw.EnforcedAt.Equal(revT0.Add(36*time.Second)) {
		t.Errorf("revA's enforcers %+v, want the gateway's report", a.Enforcers)
	}
	if w.target == nil || !w.target.Local || w.target.DynamoDBURL == "" {
		t.Errorf("connected to %+v, want the local servers", w.target)
	}

	code, out, _ = runRevocation(w.connect, "revocation", "status", pDeleted, "--prefix", "demo")
	if code != 0 || out != "no revocation of partner "+pDeleted+"\n" {
		t.Errorf("a partner without revocations: exit %d, %q", code, out)
	}
	code, out, errOut = runRevocation(w.connect, "revocation", "status", "rev-0195f3a2-7c4e-7d1a-9b2c-3d4e5f60ffff", "--prefix", "demo")
	if code != 1 || out != "" || errOut != "lanyard: no revocation rev-0195f3a2-7c4e-7d1a-9b2c-3d4e5f60ffff in table demo-revocations\n" {
		t.Errorf("an unknown revocation: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestRevocationList(t *testing.T) {
	w := newRevocationWorld(t, revTable)
	w.add(revA, pOn, 0, "")
	w.add(revB, pOff, time.Minute, "")
	w.add(revC, pOn, 2*time.Minute, "")
	w.report(revA, pOn, events.EnforcerGateway, 36*time.Second)
	w.commit(revocations.Complete(w.table, revA, revocations.StatusPending, revT0.Add(37*time.Second), 36000))
	w.commit(revocations.Stall(w.table, revB, revT0.Add(4*time.Minute)))

	code, out, errOut := runRevocation(w.connect, "revocation", "list", "--table", revTable)
	want := "REVOCATION                                PARTNER                       REASON  STATUS     REVOKED AT              TIME TO ENFORCE\n" +
		revC + "  " + pOn + "  leaked  pending    2026-03-01T12:02:00.5Z  -\n" +
		revB + "  " + pOff + "  leaked  stalled    2026-03-01T12:01:00.5Z  -\n" +
		revA + "  " + pOn + "  leaked  completed  2026-03-01T12:00:00.5Z  36000 ms\n"
	if code != 0 || errOut != "" || out != want {
		t.Errorf("exit %d, stderr %q\nstdout:\n%s\nwant:\n%s", code, errOut, out, want)
	}

	code, out, errOut = runRevocation(w.connect, "revocation", "list", "--stalled", "--table", revTable, "-o", "json")
	var got struct {
		Revocations []revocationView `json:"revocations"`
	}
	if code != 0 || errOut != "" || json.Unmarshal([]byte(out), &got) != nil || len(got.Revocations) != 1 || got.Revocations[0].RevocationID != revB ||
		got.Revocations[0].StalledAt == nil {
		t.Errorf("--stalled: exit %d, stderr %q, stdout %s; want revB alone", code, errOut, out)
	}
}

func TestRevocationUsage(t *testing.T) {
	w := newRevocationWorld(t, revTable)
	for name, args := range map[string][]string{
		"status without an id":      {"revocation", "status", "--table", revTable},
		"status of two ids":         {"revocation", "status", revA, revB, "--table", revTable},
		"status of a malformed id":  {"revocation", "status", "rev-1", "--table", revTable},
		"status of a key id":        {"revocation", "status", "kabcdefghijklmnopqrst", "--table", revTable},
		"status without a table":    {"revocation", "status", revA},
		"prefix and table":          {"revocation", "status", revA, "--prefix", "lanyard", "--table", revTable},
		"local endpoints for AWS":   {"revocation", "list", "--table", revTable, "--dynamodb", "http://127.0.0.1:8000"},
		"list with an argument":     {"revocation", "list", revA, "--table", revTable},
		"list without a table":      {"revocation", "list", "--stalled"},
		"unknown flag":              {"revocation", "list", "--table", revTable, "--all"},
		"unknown output":            {"revocation", "list", "--table", revTable, "-o", "yaml"},
		"control characters in id":  {"revocation", "status", "p-\x1b[31m", "--table", revTable},
		"a newline in the argument": {"revocation", "status", "rev-\nx", "--table", revTable},
	} {
		code, out, errOut := runRevocation(w.connect, args...)
		if code != 2 || out != "" || strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, "\x1b") {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 2 and one line", name, code, out, errOut)
		}
	}
	if w.target != nil {
		t.Errorf("connected for a bad command line: %+v", w.target)
	}
	code, out, _ := runCLI("revocation", "list", "--help")
	if code != 0 || !strings.Contains(out, "--stalled") {
		t.Errorf("lanyard revocation list --help: exit %d\n%s", code, out)
	}
}

// An expected enforcer without a report shows as missing, in the declared order.
func TestRevocationStatusShowsMissingEnforcers(t *testing.T) {
	r := revocations.Revocation{ID: revA, PartnerID: pOn, KeyIDs: []string{"kabcdefghijklmnopqrst"}, Reason: events.RevocationLeaked,
		Actor: events.Actor{Kind: events.ActorOps, ID: "ops"}, RevokedAt: revT0, Status: revocations.StatusPending}
	reports := []revocations.Report{{RevocationID: revA, Enforcer: events.EnforcerSTS, PartnerID: pOn, EventID: "ev-1", EnforcedAt: revT0.Add(time.Second), LatencyMS: 1000}}
	v := statusOf(r, reports, []string{events.EnforcerGateway, events.EnforcerSTS})
	if len(v.Enforcers) != 2 || v.Enforcers[0].Enforcer != events.EnforcerGateway || v.Enforcers[0].Reported || !v.Enforcers[0].Expected ||
		!v.Enforcers[1].Reported || *v.Enforcers[1].LatencyMS != 1000 {
		t.Fatalf("enforcers %+v, want gateway missing then sts reported", v.Enforcers)
	}
	var buf bytes.Buffer
	printStatus(&buf, v)
	if !strings.Contains(buf.String(), "gateway\tmissing\t-\n") || !strings.Contains(buf.String(), "sts\t2026-03-01T12:00:01.5Z\t1000 ms\n") {
		t.Errorf("status:\n%s", buf.String())
	}
}
