package revoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	lambdaevents "github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/features/reissue"
	"github.com/lanyardhq/lanyard/shared/platform/apigw"
	"github.com/lanyardhq/lanyard/shared/platform/problem"
	"github.com/lanyardhq/lanyard/shared/platform/tracing"
	"github.com/lanyardhq/lanyard/shared/stores/partners"
	"github.com/lanyardhq/lanyard/shared/stores/registry"
)

// The ops revocation route, as API Gateway names it in the proxy event's resource, and its
// path parameter.
const (
	AdminResource      = "/v1/admin/partners/{partnerId}/revoke"
	PartnerIDParameter = "partnerId"
)

// UnknownCaller is the actor's id when the request context names no caller (API Gateway always
// does on an AWS_IAM route).
const UnknownCaller = "unknown"

// MaxNoteLength bounds an operator's note, in characters (Credential Revoked's schema says
// the same).
const MaxNoteLength = 1000

// maxAdminBodyBytes bounds the ops request's body: a key id, a reason and a note of at most
// MaxNoteLength characters of up to 4 bytes, escaped.
const maxAdminBodyBytes = 16 << 10

// Reasons are the reasons of a revocation, as the ops route accepts them.
var Reasons = []string{events.RevocationCompromised, events.RevocationLeaked, events.RevocationOffboarded,
	events.RevocationRequested, events.RevocationOther}

// RevokesEveryKey reports whether a revocation for reason revokes every key of the partner,
// whatever was asked: a compromised or leaked key could have fetched the partner's others (a
// previous key picks up the current one).
func RevokesEveryKey(reason string) bool {
	return reason == events.RevocationCompromised || reason == events.RevocationLeaked
}

// AdminTables names the tables the ops revocation reads and writes.
type AdminTables struct {
	Tables
	Partners string `env:"PARTNERS_TABLE"`
}

// AdminDynamoDBAPI is the part of the DynamoDB client the ops revocation uses: the partner's
// item, the registry (one entry, the partner's by its index, a batch of entries) and the
// outbox.
type AdminDynamoDBAPI interface {
	DynamoDBAPI
	registry.BatchGetItemAPI
}

var _ AdminDynamoDBAPI = (*dynamodb.Client)(nil)

// AdminHandler answers POST /v1/admin/partners/{partnerId}/revoke (AWS_IAM): ops revoke one key
// of a partner, or all of them, with a reason and a note; the actor is the signing IAM
// principal. A compromised or leaked key revokes every key of the partner, pending, active and
// previous. The keys revoke through the same commit as the partner's route (one transaction
// with Credential Revoked, conditioned on the statuses read, read again after a concurrent
// change); when every key is revoked, the commit is also conditioned on the partner's item
// naming the keys read, so a key a rotation registers meanwhile is read and revoked too. Build
// it once per cold start; it is safe for concurrent use.
type AdminHandler struct {
	DB     AdminDynamoDBAPI
	Tables AdminTables
	// PartnerKeys lists the ids of the keys registered to a partner; nil lists them through the
	// registry's by-partner index (registry.PartnerKeyIDs). The ids the partner's item names
	// are read besides, and every entry is read again consistently.
	PartnerKeys func(ctx context.Context, partnerID string) ([]credential.KeyID, error)
	// Hooks add to each revocation's commit; the zero Hooks add nothing.
	Hooks
	// Reissue issues a replacement key when ops ask for one; nil: a request for one fails.
	Reissue *reissue.Issuer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

func (h *AdminHandler) now() time.Time {
	if h.Now != nil {
		return h.Now().UTC()
	}
	return time.Now().UTC()
}

// AdminRequest is the ops route's body (the OpenAPI schema AdminRevocationRequest).
type AdminRequest struct {
	KeyID  string `json:"keyId,omitempty"`
	All    bool   `json:"all,omitempty"`
	Reason string `json:"reason"`
	Note   string `json:"note,omitempty"`
	// Reissue asks for a replacement key, only with a revocation of every key of the partner
	// ("all": true, or a compromised or leaked key).
	Reissue bool `json:"reissue,omitempty"`
}

// AdminRevocation is the 200 answer (the OpenAPI schema AdminRevocation): what the request
// revoked, and the keys it found ended already. With nothing left to revoke it has no
// revocation id, no time and an empty KeyIDs.
type AdminRevocation struct {
	RevocationID string `json:"revocationId,omitempty"`
	PartnerID    string `json:"partnerId"`
	// KeyIDs are the keys this request revoked, sorted.
	KeyIDs []string `json:"keyIds"`
	// AlreadyEnded are the keys asked for that were revoked or retired already, sorted.
	AlreadyEnded []string   `json:"alreadyEnded"`
	Reason       string     `json:"reason"`
	RevokedAt    *time.Time `json:"revokedAt,omitempty"`
	// Replacement is the replacement key issued with the revocation ("reissue": true): its
	// id and pick-up token, shown this once.
	Replacement *reissue.Replacement `json:"replacement,omitempty"`
}

// Handle is the Lambda entry point. Every refusal is problem+json; a 5xx is logged with its
// whole error chain.
func (h *AdminHandler) Handle(ctx context.Context, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
	by := adminCaller(req.RequestContext.Identity)
	id := req.PathParameters[PartnerIDParameter]
	return apigw.Route{
		Span:  "revokePartnerKeys",
		Log:   "ops revocation",
		Attrs: []any{"partner", id, "caller", by},
		Refused: func(t problem.Type, err error) []any {
			return []any{"problem", t.URI(), "reason", err.Error()}
		},
		Failed: func(err error) []any { return []any{"error", err.Error()} },
	}.Serve(ctx, req, func(ctx context.Context, _ *tracing.Span, req lambdaevents.APIGatewayProxyRequest) (lambdaevents.APIGatewayProxyResponse, error) {
		return h.revoke(ctx, req, by, id)
	})
}

func (h *AdminHandler) revoke(ctx context.Context, req lambdaevents.APIGatewayProxyRequest, by, pid string) (lambdaevents.APIGatewayProxyResponse, error) {
	none := lambdaevents.APIGatewayProxyResponse{}
	if req.Resource != AdminResource || req.HTTPMethod != http.MethodPost {
		return none, problem.NotFound.New("").WithCause(fmt.Errorf("no route %s %s here", req.HTTPMethod, req.Resource))
	}
	// Only a partner id: the partners table also holds items of other kinds.
	if !partners.ValidID(pid) {
		return none, problem.NotFound.New("").WithCause(errors.New("the partner id is malformed"))
	}
	in, keyID, err := readAdminRequest(req)
	if err != nil {
		return none, err
	}
	all := in.All || RevokesEveryKey(in.Reason)
	actor := events.Actor{Kind: events.ActorOps, ID: by}
	slog.InfoContext(ctx, "ops revocation requested", "partner", pid, "keyId", string(keyID), "all", all,
		"reason", in.Reason, "caller", by)

	if in.Reissue && h.Reissue == nil {
		return none, fmt.Errorf("revoke keys of partner %s: a replacement was asked for, and this deployment issues none", pid)
	}
	var (
		ended       []registry.Entry
		prepared    *reissue.Prepared
		replacement *reissue.Replacement
	)
	c := committer{db: h.DB, tables: h.Tables.Tables, hooks: h.Hooks, now: h.now}
	r, p, err := c.run(ctx, func(ctx context.Context, now time.Time) (plan, error) {
		var (
			keys       []registry.Entry
			conditions []types.TransactWriteItem
			st         partners.State
			err        error
		)
		if all {
			keys, conditions, st, err = h.everyKey(ctx, pid)
		} else {
			keys, err = h.oneKey(ctx, pid, keyID)
		}
		if err != nil {
			return plan{}, err
		}
		p := plan{partnerID: pid, actor: actor, reason: in.Reason, note: in.Note, conditions: conditions}
		ended = ended[:0]
		for _, e := range keys {
			if live(e.Status) {
				p.revoke = append(p.revoke, e)
			} else {
				ended = append(ended, e)
			}
		}
		if in.Reissue && len(p.revoke) > 0 {
			// One secret for every reading: a new generation no one names until the
			// transaction that revokes what this reading read commits.
			if prepared == nil {
				if prepared, err = h.Reissue.Prepare(ctx, pid, st.SecretARN); err != nil {
					return plan{}, err
				}
			}
			h.planReplacement(&p, st, prepared, &replacement)
		}
		return p, nil
	})
	if prepared != nil && (err != nil || r.ID == "") {
		if derr := h.Reissue.Discard(ctx, prepared); derr != nil {
			slog.ErrorContext(ctx, "secret of an uncommitted replacement left behind", "partner", pid, "secret", prepared.SecretARN, "error", derr.Error())
		}
	}
	if err != nil {
		return none, err
	}
	if in.Reissue && r.ID == "" {
		return none, problem.Conflict.Newf("Partner %s has no live key left to revoke: a replacement is issued only with the revocation of the partner's keys.", pid).
			WithCause(fmt.Errorf("partner %s has no live key, and a replacement was asked for", pid))
	}
	if prepared != nil {
		if err := h.Reissue.EnableRotation(ctx, prepared, p.tier); err != nil {
			slog.ErrorContext(ctx, "rotation not switched on for the replacement's secret", "partner", pid, "secret", prepared.SecretARN, "error", err.Error())
		}
	}
	out := AdminRevocation{RevocationID: r.ID, PartnerID: pid, KeyIDs: keyIDStrings(r.KeyIDs), AlreadyEnded: []string{}, Reason: in.Reason,
		Replacement: replacement}
	for _, e := range ended {
		out.AlreadyEnded = append(out.AlreadyEnded, string(e.KeyID))
	}
	slices.Sort(out.AlreadyEnded)
	if r.ID != "" {
		at := r.At
		out.RevokedAt = &at
	} else {
		slog.InfoContext(ctx, "ops revocation found nothing to revoke", "partner", pid, "alreadyEnded", out.AlreadyEnded,
			"keys", len(p.revoke), "caller", by)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return none, fmt.Errorf("revoke keys of partner %s: encode the answer: %w", pid, err)
	}
	return lambdaevents.APIGatewayProxyResponse{
		StatusCode: http.StatusOK,
		Headers: map[string]string{
			"Content-Type":           "application/json",
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
		},
		Body: string(body),
	}, nil
}

// planReplacement makes plan p issue the prepared replacement: the partner's item is updated,
// under the condition StillKeys checked, rather than checked; the API key is disabled once the
// transaction committed (before the AfterCommit flush).
func (h *AdminHandler) planReplacement(p *plan, st partners.State, prepared *reissue.Prepared, out **reissue.Replacement) {
	p.conditions = nil
	p.tier = st.Tier
	p.replacementKeyID = prepared.Key.ID()
	p.replace = func(r Revocation) ([]types.TransactWriteItem, error) {
		items, shown, err := h.Reissue.Items(prepared, st, r.ID, r.At)
		if err != nil {
			return nil, err
		}
		*out = &shown
		return items, nil
	}
	p.committed = func(ctx context.Context, r Revocation) {
		if err := h.Reissue.Disable(ctx, r.PartnerID); err != nil {
			slog.ErrorContext(ctx, "API key not disabled after a replacement", "partnerId", r.PartnerID, "revocationId", r.ID, "error", err.Error())
		}
		slog.InfoContext(ctx, "replacement issued", "partnerId", r.PartnerID, "revocationId", r.ID,
			"replacementKeyId", string(r.ReplacementKeyID), "replacementId", prepared.ID, "secret", prepared.SecretARN,
			"generation", prepared.Generation)
	}
}

// live reports whether a key in status s can still be revoked.
func live(s registry.Status) bool {
	return s == registry.StatusPending || s == registry.StatusActive || s == registry.StatusPrevious
}

// oneKey reads key id of partner pid; an unknown partner, an unknown key and another
// partner's key are not-found alike.
func (h *AdminHandler) oneKey(ctx context.Context, pid string, id credential.KeyID) ([]registry.Entry, error) {
	if _, err := h.partner(ctx, pid); err != nil {
		return nil, err
	}
	e, err := (&registry.Store{DB: h.DB, Table: h.Tables.Credentials}).Get(ctx, id)
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil, problem.NotFound.New("").WithCause(fmt.Errorf("no key %s", id))
	case err != nil:
		return nil, fmt.Errorf("revoke key %s of partner %s: %w", id, pid, err)
	case e.PartnerID != pid:
		return nil, problem.NotFound.New("").WithCause(fmt.Errorf("key %s is not partner %s's", id, pid))
	}
	return []registry.Entry{e}, nil
}

// everyKey reads every key of partner pid: the ones its item names and the ones the
// by-partner index lists, each read consistently. The condition returned holds while the
// partner's item names the same keys.
func (h *AdminHandler) everyKey(ctx context.Context, pid string) ([]registry.Entry, []types.TransactWriteItem, partners.State, error) {
	st, err := h.partner(ctx, pid)
	if err != nil {
		return nil, nil, st, err
	}
	list := h.PartnerKeys
	if list == nil {
		list = func(ctx context.Context, pid string) ([]credential.KeyID, error) {
			return registry.PartnerKeyIDs(ctx, h.DB, h.Tables.Credentials, pid)
		}
	}
	ids, err := list(ctx, pid)
	if err != nil {
		return nil, nil, st, fmt.Errorf("revoke every key of partner %s: %w", pid, err)
	}
	current := credential.KeyID(st.KeyID)
	ids = append(ids, current, st.PreviousKeyID, st.PendingKeyID)
	entries, err := registry.GetEntries(ctx, h.DB, h.Tables.Credentials, ids...)
	if err != nil {
		return nil, nil, st, fmt.Errorf("revoke every key of partner %s: %w", pid, err)
	}
	var keys []registry.Entry
	for _, e := range entries {
		if e.PartnerID == pid {
			keys = append(keys, e)
		}
	}
	slices.SortFunc(keys, func(a, b registry.Entry) int { return strings.Compare(string(a.KeyID), string(b.KeyID)) })
	return keys, []types.TransactWriteItem{partners.StillKeys(h.Tables.Partners, pid, current, st.PreviousKeyID, st.PendingKeyID)}, st, nil
}

// partner reads partner pid and its rotation keys; not-found when there is none.
func (h *AdminHandler) partner(ctx context.Context, pid string) (partners.State, error) {
	st, err := (&partners.Store{DB: h.DB, Table: h.Tables.Partners}).GetState(ctx, pid)
	switch {
	case errors.Is(err, partners.ErrNotFound):
		return partners.State{}, problem.NotFound.New("").WithCause(err)
	case err != nil:
		return partners.State{}, fmt.Errorf("revoke keys of partner %s: %w", pid, err)
	}
	return st, nil
}

// readAdminRequest reads and checks the ops route's body: JSON (unsupported-media-type
// otherwise), one object with only the known members, exactly one of keyId and "all": true, a
// reason from Reasons, a note of at most MaxNoteLength characters none of which is a control
// or format character. Every other refusal is admin-revocation-invalid, whose detail never
// echoes the body.
func readAdminRequest(req lambdaevents.APIGatewayProxyRequest) (AdminRequest, credential.KeyID, error) {
	invalid := func(detail string) error {
		return problem.AdminRevocationInvalid.New(detail).WithCause(errors.New(detail))
	}
	if err := apigw.CheckJSON(req); err != nil {
		return AdminRequest{}, "", err
	}
	body, err := apigw.Body(req)
	if err != nil {
		return AdminRequest{}, "", err
	}
	if len(body) > maxAdminBodyBytes {
		return AdminRequest{}, "", invalid(fmt.Sprintf("The body is larger than %d bytes.", maxAdminBodyBytes))
	}
	if !utf8.Valid(body) {
		return AdminRequest{}, "", invalid("The body is not UTF-8.")
	}
	if !uniqueMembers(body) {
		return AdminRequest{}, "", invalid("The body names a member twice.")
	}
	var in AdminRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return AdminRequest{}, "", invalid("The body is not a JSON object with only the members keyId, all, reason, note and reissue, of the right types.")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return AdminRequest{}, "", invalid("The body holds more than one JSON value.")
	}
	var id credential.KeyID
	switch {
	case in.KeyID != "" && in.All:
		return AdminRequest{}, "", invalid("Name one key as keyId, or every key with \"all\": true, not both.")
	case in.KeyID == "" && !in.All:
		return AdminRequest{}, "", invalid("Name one key as keyId, or every key of the partner with \"all\": true.")
	case in.KeyID != "":
		if id, err = credential.ParseKeyID(in.KeyID); err != nil {
			return AdminRequest{}, "", invalid("keyId is not a key id.")
		}
	}
	if !slices.Contains(Reasons, in.Reason) {
		return AdminRequest{}, "", invalid("reason must be one of " + strings.Join(Reasons, ", ") + ".")
	}
	if in.Reissue && !in.All && !RevokesEveryKey(in.Reason) {
		return AdminRequest{}, "", invalid("A replacement (\"reissue\": true) comes only with the revocation of every key of the partner: send \"all\": true, or the reason compromised or leaked.")
	}
	if err := CheckNote(in.Note); err != nil {
		return AdminRequest{}, "", invalid(err.Error() + ".")
	}
	return in, id, nil
}

// CheckNote refuses a note longer than MaxNoteLength characters, holding a control or format
// character (a line break, a tab, an escape, a direction mark …) or an invalid character (a
// note is one line of printable text), or holding what looks like a key. Its message never
// repeats the note.
func CheckNote(note string) error {
	if n := utf8.RuneCountInString(note); n > MaxNoteLength {
		return fmt.Errorf("note holds %d characters, more than %d", n, MaxNoteLength)
	}
	for _, c := range note {
		if unicode.IsControl(c) || unicode.Is(unicode.Cf, c) || c == utf8.RuneError {
			return errors.New("note holds a control or format character (a line break, a tab, a direction mark …): send one line of printable text")
		}
	}
	// A note is recorded on the audit trail: a key pasted into it would leak there.
	if keyInText.MatchString(note) {
		return errors.New("note holds what looks like a key: name keys by their key id, never by the key itself")
	}
	return nil
}

// keyInText finds a key (its scanner pattern) anywhere in a text.
var keyInText = regexp.MustCompile(credential.ScannerPattern)

// uniqueMembers reports false for a JSON object that names a member twice (encoding/json would
// keep the last silently). Anything not an object is left to the decoder.
func uniqueMembers(body []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return true
	}
	seen := map[string]bool{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return true
		}
		name, _ := t.(string)
		if seen[name] {
			return false
		}
		seen[name] = true
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return true
		}
	}
	return true
}

// adminCaller names the caller of an AWS_IAM route: its IAM ARN, else the caller id API
// Gateway gives, else UnknownCaller.
func adminCaller(id lambdaevents.APIGatewayRequestIdentity) string {
	for _, v := range []string{id.UserArn, id.Caller} {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return UnknownCaller
}
