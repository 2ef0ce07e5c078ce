package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/local/front"
	"github.com/lanyardhq/lanyard/local/invoke"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/features/invite"
	"github.com/lanyardhq/lanyard/shared/platform/secret"
	"github.com/lanyardhq/lanyard/shared/stores/outbox"
	"github.com/lanyardhq/lanyard/topology"
	"github.com/lanyardhq/lanyard/topology/topologytest"
)

// handlerInvoker runs the invites handler in process for `lanyard local`'s front.
type handlerInvoker struct{ h *invite.Handler }

func (i handlerInvoker) Invoke(ctx context.Context, function string, payload []byte) (invoke.Result, error) {
	if function != "lanyard-probe" {
		return invoke.Result{}, fmt.Errorf("no function %s", function)
	}
	var ev lambdaevents.APIGatewayProxyRequest
	if err := json.Unmarshal(payload, &ev); err != nil {
		return invoke.Result{}, err
	}
	resp, err := i.h.Handle(ctx, ev)
	if err != nil {
		return invoke.Result{}, err
	}
	out, err := json.Marshal(resp)
	return invoke.Result{Payload: out}, err
}

// The CLI's signature is what `lanyard local`'s front accepts, and the handler answers the
// front's proxy event: the code printed is the stored invite's, created by the local caller.
func TestInviteCreateThroughTheLocalFront(t *testing.T) {
	awsEnv(t)
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	t.Cleanup(func() { slog.SetDefault(prev) })
	db := dynamodbtest.NewDynamoDB()
	db.CreateTable("invites", dynamodbtest.KeyAttr{Name: "inviteHash", Type: types.ScalarAttributeTypeS}, nil)
	db.CreateTable("outbox", dynamodbtest.KeyAttr{Name: outbox.PartitionKey, Type: types.ScalarAttributeTypeS}, &dynamodbtest.KeyAttr{Name: outbox.SortKey, Type: types.ScalarAttributeTypeN})
	p, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	store := &invite.Store{DB: db, Table: "invites", Outbox: &outbox.Store{DB: db, Table: "outbox"}, Now: time.Now}
	top := topologytest.Sample()
	top.Routes = append(top.Routes, topology.Route{Method: "POST", Path: "/v1/admin/invites", Function: "probe", Auth: topology.AuthIAM})
	f, err := front.New(front.Config{
		Topology:    top,
		Invoker:     handlerInvoker{&invite.Handler{Invites: store, Policy: p}},
		Region:      "us-east-1",
		AccountID:   "000000000000",
		APIID:       "lnyd0api01",
		Logger:      slog.New(slog.DiscardHandler),
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)

	for _, endpoint := range []string{srv.URL, srv.URL + "/local"} {
		code, out, errOut := runCLI("invite", "create", "--partner-name", "Acme Logistics", "--tier", "premium", "--endpoint", endpoint, "-o", "json")
		if code != 0 || errOut != "" {
			t.Fatalf("%s: exit %d, stderr %q", endpoint, code, errOut)
		}
		var got invite.Created
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("stdout %q: %v", out, err)
		}
		inv, err := store.Lookup(t.Context(), secret.New(got.InviteCode))
		if err != nil || inv.ID != got.InviteID || inv.Tier != "premium" || inv.CreatedBy != "arn:aws:iam::000000000000:root" {
			t.Errorf("%s: stored %+v (%v)", endpoint, inv, err)
		}
	}

	// A problem from the handler, through the front, is one line and exit 1.
	code, _, errOut := runCLI("invite", "create", "--partner-name", "Acme", "--tier", "gold", "--endpoint", srv.URL)
	if code != 1 || errOut != "lanyard: Invalid Request Body: The request body does not match the schema of this operation: 1 field is invalid; see errors.\n" {
		t.Errorf("unknown tier: exit %d, stderr %q", code, errOut)
	}
	// And so is the front's own refusal of a signature by other credentials.
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-test")
	code, _, errOut = runCLI("invite", "create", "--partner-name", "Acme", "--tier", "standard", "--endpoint", srv.URL)
	if code != 1 || errOut == "" {
		t.Errorf("wrong secret: exit %d, stderr %q", code, errOut)
	}
	t.Logf("wrong secret: %s", errOut)
}
