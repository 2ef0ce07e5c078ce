package rollover_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/fakes/ddbfault"
	"github.com/lanyardhq/lanyard/shared/fakes/dynamodbtest"
	"github.com/lanyardhq/lanyard/shared/fakes/secrettest"
	"github.com/lanyardhq/lanyard/shared/features/authorizer"
	"github.com/lanyardhq/lanyard/shared/features/rollover"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

const (
	drain = time.Hour       // the standard tier's drain window
	grace = 168 * time.Hour // the standard tier's grace window
	warn  = 48 * time.Hour  // the standard tier's warning before the grace ends
)

// pickUp makes GET /v1/credentials/current with key and reads the 200 answer.
func (fx *fixture) pickUp(key credential.Key) rollover.Current {
	fx.t.Helper()
	r := fx.call(key, http.MethodGet, rollover.CurrentResource, "")
	if r.denied != "" || r.status != http.StatusOK {
		fx.t.Fatalf("pick up with key %s: denied %q, status %d", key.ID(), r.denied, r.status)
	}
	if r.header["Cache-Control"] != "no-store" || r.header["Content-Type"] != "application/json" {
		fx.t.Errorf("headers %v, want Cache-Control no-store and Content-Type application/json", r.header)
	}
	validates(fx.t, "CurrentCredential", r.body)
	var c rollover.Current
	decode(fx.t, r.body, &c)
	return c
}

// ack makes POST /v1/credentials/ack with key and reads the 200 answer.
func (fx *fixture) ack(key credential.Key) rollover.Acknowledgement {
	fx.t.Helper()
	r := fx.call(key, http.MethodPost, rollover.AckResource, "")
	if r.denied != "" || r.status != http.StatusOK {
		fx.t.Fatalf("acknowledge with key %s: denied %q, status %d: %s", key.ID(), r.denied, r.status, r.body)
	}
	fx.c.CheckText("acknowledgement", r.body)
	validates(fx.t, "RotationAcknowledgement", r.body)
	var a rollover.Acknowledgement
	decode(fx.t, r.body, &a)
	return a
}

// The current key is picked up with the previous key within its grace, or with the current
// key, and the answer is the same each time; before any rotation the only key is the current
// one. Every pick-up with the previous key is recorded (Credential Picked Up; the first also
// sets the key's pickedUpAt marker): each shows the new key to whoever holds the old one. A
// pick-up with the current key writes nothing.
func TestPickUp(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)

	t.Run("before any rotation", func(t *testing.T) {
		defer fx.use(t)()
		got := fx.pickUp(key0)
		want := rollover.Current{KeyID: string(key0.ID()), APIKey: key0.Plaintext().Reveal(), ExpiresAt: fx.entry(key0.ID()).NotAfter, CallerKey: rollover.CallerCurrent}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("answer %s %s %s, want the onboarding key %s", got.KeyID, got.CallerKey, got.ExpiresAt, key0.ID())
		}
	})

	rotatedAt := fx.clock.Now()
	key1 := fx.rotate(p)
	fx.clock.Advance(time.Hour)
	pickedAt := fx.clock.Now()
	var before map[string][]dynamodbtest.Item
	wantPrevious := &rollover.PreviousKey{KeyID: string(key0.ID()), GraceUntil: rotatedAt.Add(grace)}
	for i, tc := range []struct {
		name   string
		key    credential.Key
		caller string
	}{
		{"with the previous key", key0, rollover.CallerPrevious},
		{"with the current key", key1, rollover.CallerCurrent},
		{"with the previous key again", key0, rollover.CallerPrevious},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer fx.use(t)()
			got := fx.pickUp(tc.key)
			want := rollover.Current{
				KeyID: string(key1.ID()), APIKey: key1.Plaintext().Reveal(), ExpiresAt: fx.entry(key1.ID()).NotAfter,
				CallerKey: tc.caller, PreviousKey: wantPrevious,
			}
			if got.APIKey != want.APIKey {
				t.Errorf("the key picked up is not the new key %s", key1.ID())
			}
			if got.APIKey, want.APIKey = "", ""; !reflect.DeepEqual(got, want) {
				t.Errorf("answer\n%+v\nwant\n%+v", got, want)
			}
		})
		switch i {
		case 0:
			before = fx.tables()
		case 1:
			fx.unchanged("picking up with the current key", before)
		}
	}
	picked := ofType[*events.CredentialPickedUp](fx.records(p))
	if len(picked) != 2 {
		t.Fatalf("%d pick-ups recorded, want one per GET made with the previous key (2)", len(picked))
	}
	for _, pu := range picked {
		if pu.KeyID != string(key1.ID()) || pu.Method != events.PickedUpRotation || pu.CallerKeyID != string(key0.ID()) ||
			!pu.Time.Equal(pickedAt) || pu.Actor != (events.Actor{Kind: events.ActorPartner, ID: p.id}) {
			t.Errorf("pick-up recorded: %+v, want key %s with key %s", pu, key1.ID(), key0.ID())
		}
	}
	if e := fx.entry(key1.ID()); !e.PickedUpAt.Equal(pickedAt) {
		t.Errorf("key %s marked picked up at %s, want %s", key1.ID(), e.PickedUpAt, pickedAt)
	}

	t.Run("the key picked up authorizes", func(t *testing.T) {
		defer fx.use(t)()
		k, err := credential.Parse(fx.pickUp(key0).APIKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok, refusal := fx.authorize(k); !ok {
			t.Errorf("the key picked up is refused: %s", refusal)
		}
	})

	t.Run("after the acknowledgement, until retireAt", func(t *testing.T) {
		defer fx.use(t)()
		acked := fx.clock.Now()
		fx.ack(key1)
		fx.clock.Advance(drain - time.Second)
		got := fx.pickUp(key0)
		want := &rollover.PreviousKey{KeyID: string(key0.ID()), GraceUntil: rotatedAt.Add(grace), AcknowledgedAt: timePtr(acked), RetireAt: timePtr(acked.Add(drain))}
		if got.CallerKey != rollover.CallerPrevious || !reflect.DeepEqual(got.PreviousKey, want) {
			t.Errorf("caller %s, previous key %+v; want previous, %+v", got.CallerKey, got.PreviousKey, want)
		}
		fx.clock.Advance(time.Second)
		if r := fx.call(key0, http.MethodGet, rollover.CurrentResource, ""); r.denied != authorizer.OutcomeDeny {
			t.Errorf("at retireAt the previous key is %q (status %d), want denied by the authorizer", r.denied, r.status)
		}
		if got := fx.pickUp(key1); got.PreviousKey != nil || got.CallerKey != rollover.CallerCurrent {
			t.Errorf("past retireAt: caller %s, previous key %+v; want current, none", got.CallerKey, got.PreviousKey)
		}
	})
	fx.checkTables()
}

// The previous key past its grace is refused by the authorizer; a request API Gateway answers
// from a cached decision (the authorizer does not run) is refused by the route.
func TestPickUpWithAStaleCachedDecision(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)
	fx.rotate(p)
	fx.clock.Advance(grace)
	if r := fx.call(key0, http.MethodGet, rollover.CurrentResource, ""); r.denied != authorizer.OutcomeDeny {
		t.Fatalf("past grace the previous key is %q, want denied", r.denied)
	}
	for _, tc := range []struct{ method, resource string }{
		{http.MethodGet, rollover.CurrentResource},
		{http.MethodPost, rollover.AckResource},
	} {
		r := fx.callWith(fx.contextOf(p, key0), tc.method, tc.resource, "")
		if typ, _ := problemOf(t, r); r.status != http.StatusForbidden || typ != problem.AccessDenied.URI() {
			t.Errorf("%s %s with a cached decision for the previous key past grace: %d %s, want 403 access-denied", tc.method, tc.resource, r.status, typ)
		}
		c.CheckText("answer", r.body)
	}
	fx.mustRun()
	r := fx.callWith(fx.contextOf(p, key0), http.MethodGet, rollover.CurrentResource, "")
	if typ, _ := problemOf(t, r); r.status != http.StatusForbidden || typ != problem.AccessDenied.URI() {
		t.Errorf("a retired key with a cached decision: %d %s, want 403 access-denied", r.status, typ)
	}
}

// Faults of the deployment are 500s with the fixed detail; no key reaches the answer or the
// log.
func TestPickUpFaults(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key1 := fx.rotate(p)

	t.Run("the secret version holds another key", func(t *testing.T) {
		defer fx.use(t)()
		other, err := credential.Generate(credential.EnvLocal, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Add("a key in the wrong version", other.Plaintext().Reveal())
		version := fx.entry(key1.ID()).SecretVersionID
		// A second secret holds another key under the same version id; the entry is pointed at it.
		out, err := fx.sm.CreateSecret(t.Context(), &secretsmanager.CreateSecretInput{
			Name: aws.String(testSecretPrefix + "mismatch"), ClientRequestToken: aws.String(version), SecretString: aws.String(other.Plaintext().Reveal()),
		})
		if err != nil {
			t.Fatal(err)
		}
		h := *fx.h
		h.Secrets = redirect{sm: fx.sm, to: aws.ToString(out.ARN)}
		fx.h = &h
		defer func() { fx.h.Secrets = fx.sm }()
		r := fx.call(key1, http.MethodGet, rollover.CurrentResource, "")
		if typ, _ := problemOf(t, r); r.status != http.StatusInternalServerError || typ != problem.Internal.URI() {
			t.Errorf("status %d %s, want 500 internal", r.status, typ)
		}
		c.CheckText("answer", r.body)
	})

	t.Run("the registry names a secret that is not a partner secret", func(t *testing.T) {
		defer fx.use(t)()
		h := *fx.h
		reads := &countingSecrets{sm: fx.sm}
		h.SecretPrefix, h.Secrets = "elsewhere/", reads
		fx.h = &h
		defer func() { fx.h.SecretPrefix, fx.h.Secrets = testSecretPrefix, fx.sm }()
		r := fx.call(key1, http.MethodGet, rollover.CurrentResource, "")
		if typ, _ := problemOf(t, r); r.status != http.StatusInternalServerError || typ != problem.Internal.URI() {
			t.Errorf("status %d %s, want 500 internal", r.status, typ)
		}
		if reads.n != 0 {
			t.Errorf("the secret was read %d times", reads.n)
		}
	})

	t.Run("no authorizer context", func(t *testing.T) {
		defer fx.use(t)()
		for _, ctx := range []map[string]any{nil, {apigw.ContextPartnerID: p.id}, {apigw.ContextKeyID: string(key1.ID())}} {
			r := fx.callWith(ctx, http.MethodGet, rollover.CurrentResource, "")
			if r.status != http.StatusInternalServerError {
				t.Errorf("context %v: status %d, want 500", ctx, r.status)
			}
		}
	})

	t.Run("the key is another partner's", func(t *testing.T) {
		defer fx.use(t)()
		q := fx.addPartner()
		r := fx.callWith(fx.contextOf(q, key1), http.MethodGet, rollover.CurrentResource, "")
		if r.status != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", r.status)
		}
	})

	t.Run("the partner is not in the table", func(t *testing.T) {
		defer fx.use(t)()
		q := fx.addPartner()
		if _, err := fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
			{Delete: &types.Delete{TableName: aws.String(testTables.Partners), Key: partners.Key(q.id)}},
		}}); err != nil {
			t.Fatal(err)
		}
		if r := fx.call(q.key(0), http.MethodGet, rollover.CurrentResource, ""); r.status != http.StatusInternalServerError {
			t.Errorf("status %d, want 500", r.status)
		}
	})

	t.Run("an unknown route", func(t *testing.T) {
		defer fx.use(t)()
		r := fx.callWith(fx.contextOf(p, key1), http.MethodPost, rollover.CurrentResource, "")
		if typ, _ := problemOf(t, r); r.status != http.StatusNotFound || typ != problem.NotFound.URI() {
			t.Errorf("POST current: %d %s, want 404", r.status, typ)
		}
	})
}

// redirect reads every secret from another secret, by the same version id.
type redirect struct {
	sm rollover.SecretsAPI
	to string
}

func (r redirect) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	cp := *in
	cp.SecretId = aws.String(r.to)
	return r.sm.GetSecretValue(ctx, &cp, opts...)
}

// countingSecrets counts the reads.
type countingSecrets struct {
	sm rollover.SecretsAPI
	n  int
}

func (c *countingSecrets) GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error) {
	c.n++
	return c.sm.GetSecretValue(ctx, in, opts...)
}

// The acknowledgement with the new key sets the previous key's retirement time to
// min(now + drain, grace), once, with its event; with the previous key it is refused; with
// nothing to acknowledge it answers with no previous key.
func TestAcknowledge(t *testing.T) {
	for _, tc := range []struct {
		name string
		// after is how long after the rotation the partner acknowledges.
		after time.Duration
		// retireAfter is the retirement time's distance from the rotation.
		retireAfter time.Duration
	}{
		{"soon after the rotation: retires after the drain", 2 * time.Hour, 2*time.Hour + drain},
		{"within the drain of the grace's end: retires at the grace's end", grace - 30*time.Minute, grace},
		{"exactly one drain before the grace's end", grace - drain, grace},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := secrettest.Plant(t)
			fx := newFixture(t, c)
			p := fx.p
			key0 := p.key(0)
			rotatedAt := fx.clock.Now()
			key1 := fx.rotate(p)
			fx.clock.Advance(tc.after)
			ackedAt := fx.clock.Now()

			got := fx.ack(key1)
			want := rollover.Acknowledgement{KeyID: string(key1.ID()), PreviousKey: &rollover.PreviousKey{
				KeyID: string(key0.ID()), GraceUntil: rotatedAt.Add(grace), AcknowledgedAt: timePtr(ackedAt), RetireAt: timePtr(rotatedAt.Add(tc.retireAfter)),
			}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("answer %+v %+v\nwant %+v %+v", got, got.PreviousKey, want, want.PreviousKey)
			}
			e := fx.entry(key0.ID())
			if !e.AcknowledgedAt.Equal(ackedAt) || !e.RetireAt.Equal(rotatedAt.Add(tc.retireAfter)) || !e.GraceUntil.Equal(rotatedAt.Add(grace)) {
				t.Errorf("previous entry acknowledged %s, retire at %s, grace until %s", e.AcknowledgedAt, e.RetireAt, e.GraceUntil)
			}

			// Again, later: nothing changes, the answer is the same.
			fx.clock.Advance(time.Minute)
			before := fx.tables()
			if again := fx.ack(key1); !reflect.DeepEqual(again, got) {
				t.Errorf("a second acknowledgement answers %+v, want %+v", again, got)
			}
			fx.unchanged("a second acknowledgement", before)

			acks := ofType[*events.CredentialRotationAcknowledged](fx.records(p))
			if len(acks) != 1 {
				t.Fatalf("%d Credential Rotation Acknowledged, want 1", len(acks))
			}
			a := acks[0]
			if a.KeyID != string(key1.ID()) || a.PreviousKeyID != string(key0.ID()) || !a.RetireAt.Equal(*want.PreviousKey.RetireAt) ||
				!a.GraceUntil.Equal(want.PreviousKey.GraceUntil) || a.Actor != (events.Actor{Kind: events.ActorPartner, ID: p.id}) || !a.Time.Equal(ackedAt) {
				t.Errorf("Credential Rotation Acknowledged %+v", *a)
			}
			fx.checkTables()
		})
	}
}

func TestAcknowledgeRefusals(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	key0 := p.key(0)

	t.Run("nothing to acknowledge before a rotation", func(t *testing.T) {
		defer fx.use(t)()
		before := fx.tables()
		if got := fx.ack(key0); !reflect.DeepEqual(got, rollover.Acknowledgement{KeyID: string(key0.ID())}) {
			t.Errorf("answer %+v, want the key and no previous key", got)
		}
		fx.unchanged("an acknowledgement with nothing to acknowledge", before)
	})

	key1 := fx.rotate(p)
	t.Run("with the previous key", func(t *testing.T) {
		defer fx.use(t)()
		before := fx.tables()
		r := fx.call(key0, http.MethodPost, rollover.AckResource, "")
		typ, detail := problemOf(t, r)
		if r.status != http.StatusConflict || typ != problem.Conflict.URI() || detail != rollover.AckWithNewKeyDetail ||
			!strings.HasPrefix(detail, "Acknowledge with the new key") {
			t.Errorf("%d %s %q, want 409 conflict %q", r.status, typ, detail, rollover.AckWithNewKeyDetail)
		}
		fx.unchanged("an acknowledgement with the previous key", before)
	})

	t.Run("bodies", func(t *testing.T) {
		defer fx.use(t)()
		for _, tc := range []struct {
			body   string
			status int
			typ    problem.Type
		}{
			{`{"keyId":"x"}`, http.StatusBadRequest, problem.Validation},
			{`[]`, http.StatusBadRequest, problem.Validation},
			{`not json`, http.StatusBadRequest, problem.BadRequest},
		} {
			before := fx.tables()
			r := fx.call(key1, http.MethodPost, rollover.AckResource, tc.body)
			if typ, _ := problemOf(t, r); r.status != tc.status || typ != tc.typ.URI() {
				t.Errorf("body %s: %d %s, want %d %s", tc.body, r.status, typ, tc.status, tc.typ.Anchor())
			}
			fx.unchanged("a refused acknowledgement", before)
		}
		for _, body := range []string{"", " {} ", "{}\n"} {
			if r := fx.call(key1, http.MethodPost, rollover.AckResource, body); r.status != http.StatusOK {
				t.Errorf("body %q: status %d, want 200", body, r.status)
			}
		}
	})

	t.Run("nothing to acknowledge once the previous key is retired", func(t *testing.T) {
		defer fx.use(t)()
		fx.clock.Advance(drain)
		fx.mustRun()
		before := fx.tables()
		if got := fx.ack(key1); !reflect.DeepEqual(got, rollover.Acknowledgement{KeyID: string(key1.ID())}) {
			t.Errorf("answer %+v, want the key and no previous key", got)
		}
		fx.unchanged("an acknowledgement after the retirement", before)
	})
}

// An acknowledgement that meets a concurrent change reads again: a concurrent acknowledgement
// leaves one, answered alike; a rotation that lands first makes the caller's key the previous
// one, refused.
func TestAcknowledgeRaces(t *testing.T) {
	c := secrettest.Plant(t)

	t.Run("two acknowledgements", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		key1 := fx.rotate(p)
		var first rollover.Acknowledgement
		once := false
		fx.db.Intercept = func(op string, _ any) error {
			if op == "TransactWriteItems" && !once {
				once = true
				first = fx.ack(key1)
			}
			return nil
		}
		second := fx.ack(key1)
		fx.db.Intercept = nil
		if !reflect.DeepEqual(first, second) || first.PreviousKey == nil || first.PreviousKey.RetireAt == nil {
			t.Errorf("answers %+v and %+v, want one acknowledgement answered twice", first, second)
		}
		if n := len(ofType[*events.CredentialRotationAcknowledged](fx.records(p))); n != 1 {
			t.Errorf("%d Credential Rotation Acknowledged, want 1", n)
		}
	})

	t.Run("a rotation first", func(t *testing.T) {
		fx := newFixture(t, c)
		p := fx.p
		key1 := fx.rotate(p)
		once := false
		fx.db.Intercept = func(op string, _ any) error {
			if op == "TransactWriteItems" && !once {
				once = true
				fx.rotate(p)
			}
			return nil
		}
		r := fx.call(key1, http.MethodPost, rollover.AckResource, "")
		fx.db.Intercept = nil
		if typ, _ := problemOf(t, r); r.status != http.StatusConflict || typ != problem.Conflict.URI() {
			t.Errorf("%d %s, want 409: key %s is the previous key now", r.status, typ, key1.ID())
		}
		if n := len(ofType[*events.CredentialRotationAcknowledged](fx.records(p))); n != 0 {
			t.Errorf("%d Credential Rotation Acknowledged, want none", n)
		}
	})
}

// A partner that revoked its current key has nothing to collect or acknowledge: its previous
// key, still in grace, is refused (403), not answered with a fault.
func TestPreviousKeyAfterTheCurrentKeyIsRevoked(t *testing.T) {
	c := secrettest.Plant(t)
	fx := newFixture(t, c)
	p := fx.p
	current := fx.rotate(p)
	revoke, err := registry.Revoke(testTables.Credentials, current.ID(), registry.StatusActive, fx.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fx.db.TransactWriteItems(t.Context(), &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{revoke}}); err != nil {
		t.Fatal(err)
	}
	for _, rt := range []struct{ method, resource, body string }{
		{http.MethodGet, rollover.CurrentResource, ""},
		{http.MethodPost, rollover.AckResource, ""},
	} {
		r := fx.call(p.key(0), rt.method, rt.resource, rt.body)
		if typ, _ := problemOf(t, r); r.status != http.StatusForbidden || typ != problem.AccessDenied.URI() {
			t.Errorf("%s %s with the previous key: %d %s, want 403 access-denied", rt.method, rt.resource, r.status, typ)
		}
		c.CheckText("answer", r.body)
	}
}

// A rotated key's first pick-up whose record does not commit is not answered: a 500 without the
// key, no record, no marker; the next pick-up is recorded and answered.
func TestRotationPickUpFailsClosed(t *testing.T) {
	for _, f := range ddbfault.Faults() {
		t.Run(f.Name, func(t *testing.T) {
			c := secrettest.Plant(t)
			fx := newFixture(t, c)
			p := fx.p
			key0 := p.key(0)
			key1 := fx.rotate(p)
			failing := &ddbfault.Fake{DynamoDB: fx.db.DynamoDB, Fault: &f}
			fx.h.DB = failing
			r := fx.call(key0, http.MethodGet, rollover.CurrentResource, "")
			if r.status != http.StatusInternalServerError || strings.Contains(r.body, key1.Plaintext().Reveal()) || strings.Contains(r.body, "apiKey") {
				t.Errorf("answer %d %s, want a 500 without the key", r.status, r.body)
			}
			if failing.Calls.Load() != 1 {
				t.Errorf("%d failed transactions, want 1", failing.Calls.Load())
			}
			if e := fx.entry(key1.ID()); !e.PickedUpAt.IsZero() {
				t.Error("the key is marked picked up")
			}
			if picked := ofType[*events.CredentialPickedUp](fx.records(p)); len(picked) != 0 {
				t.Errorf("%d pick-ups recorded", len(picked))
			}

			failing.Fault = nil
			if got := fx.pickUp(key0); got.KeyID != string(key1.ID()) {
				t.Errorf("picked up %s, want %s", got.KeyID, key1.ID())
			}
			if picked := ofType[*events.CredentialPickedUp](fx.records(p)); len(picked) != 1 {
				t.Errorf("%d pick-ups recorded, want 1", len(picked))
			}
		})
	}
}
