// Package events holds Lanyard's event contracts: one Go type, one JSON Schema (draft 2020-12,
// in schemas/) and one fixture (in testdata/) per EventBridge detail type.
//
// Every event goes out on one bus with source "lanyard". Its detail starts with Meta: an event
// id consumers de-duplicate on (delivery is at least once and unordered), the partner id, the
// actor, and the time of the decision.
package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/google/uuid"
)

// Source is the EventBridge source of every Lanyard event.
const Source = "lanyard"

// AllPartners is the partner id of events that concern no single partner (an audit export).
const AllPartners = "*"

// Actor kinds.
const (
	ActorPartner = "partner"
	ActorOps     = "ops"
	ActorSystem  = "system"
)

// Actor says who caused an event: a partner (by partner id), an operator (by IAM principal
// ARN) or the system (by function name).
type Actor struct {
	Kind string `json:"kind"`
	ID   string `json:"id"`
}

// Meta is what every event carries.
type Meta struct {
	EventID   string    `json:"eventId"`
	PartnerID string    `json:"partnerId"`
	Actor     Actor     `json:"actor"`
	Time      time.Time `json:"time"`
	// Record says where the event's audit record sits in the outbox. It is never set on an
	// event being committed (the stored detail, which the record's hash covers, has none): the
	// relay adds it to the detail it puts on the bus (WithRecord). Nil for an event that did
	// not come from the outbox.
	Record *RecordRef `json:"record,omitempty"`
}

// RecordRef is an outbox record's place in its hash chain.
type RecordRef struct {
	Chain    string `json:"chain"`
	Seq      int64  `json:"seq"`
	PrevHash string `json:"prevHash"`
	Hash     string `json:"hash"`
}

// WithRecord returns detail, a JSON object as Marshal produced it, with a "record" member
// holding ref put first; the other members stay byte for byte. It refuses a detail that is
// not an object or that already has a record.
func WithRecord(detail json.RawMessage, ref RecordRef) (json.RawMessage, error) {
	var probe struct {
		Record json.RawMessage `json:"record"`
	}
	if err := json.Unmarshal(detail, &probe); err != nil {
		return nil, fmt.Errorf("add the record to a detail: %w", err)
	}
	if probe.Record != nil {
		return nil, errors.New("add the record to a detail: it has one already")
	}
	rest := bytes.TrimLeft(detail, " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return nil, errors.New("add the record to a detail: not a JSON object")
	}
	rest = rest[1:]
	r, err := json.Marshal(ref)
	if err != nil {
		return nil, fmt.Errorf("add the record to a detail: %w", err)
	}
	out := make([]byte, 0, len(detail)+len(r)+12)
	out = append(out, `{"record":`...)
	out = append(out, r...)
	if t := bytes.TrimLeft(rest, " \t\r\n"); len(t) > 0 && t[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...), nil
}

// NewMeta gives an event its id (a UUIDv7: unique, and ordered by creation time), partner id,
// actor and time.
func NewMeta(partnerID string, actor Actor, now time.Time) Meta {
	return Meta{EventID: uuid.Must(uuid.NewV7()).String(), PartnerID: partnerID, Actor: actor, Time: now.UTC()}
}

// Header returns the event's Meta.
func (m Meta) Header() Meta { return m }

// Detail is implemented by every event type.
type Detail interface {
	DetailType() string
	Header() Meta
}

// registry maps each detail type to a constructor of its Go type. Adding an event means adding
// it here, with its schema and fixture; the tests check all three agree.
var registry = map[string]func() Detail{
	TypePartnerOnboarded:         func() Detail { return &PartnerOnboarded{} },
	TypeCredentialIssued:         func() Detail { return &CredentialIssued{} },
	TypeCredentialRotated:        func() Detail { return &CredentialRotated{} },
	TypeCredentialRotationFailed: func() Detail { return &CredentialRotationFailed{} },
	TypeCredentialRevoked:        func() Detail { return &CredentialRevoked{} },
	TypeRevocationEnforced:       func() Detail { return &RevocationEnforced{} },
	TypeRevocationCompleted:      func() Detail { return &RevocationCompleted{} },
	TypeRevocationStalled:        func() Detail { return &RevocationStalled{} },
	TypeAuditExported:            func() Detail { return &AuditExported{} },
	TypeOnboardingPending:        func() Detail { return &OnboardingPending{} },
	TypeOnboardingApproved:       func() Detail { return &OnboardingApproved{} },
	TypeOnboardingDenied:         func() Detail { return &OnboardingDenied{} },

	// The rollover after a rotation (shared/features/rollover).
	TypeCredentialRotationAcknowledged: func() Detail { return &CredentialRotationAcknowledged{} },
	TypeCredentialGraceEnding:          func() Detail { return &CredentialGraceEnding{} },
	TypeCredentialRetired:              func() Detail { return &CredentialRetired{} },

	// Credentials handed out, invites issued, rotations asked for.
	TypeTokenExchanged:              func() Detail { return &TokenExchanged{} },
	TypeCredentialPickedUp:          func() Detail { return &CredentialPickedUp{} },
	TypeInviteIssued:                func() Detail { return &InviteIssued{} },
	TypeCredentialRotationRequested: func() Detail { return &CredentialRotationRequested{} },
}

// DetailTypes lists every known detail type, sorted.
func DetailTypes() []string {
	out := make([]string, 0, len(registry))
	for t := range registry {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// Known reports whether t is a Lanyard detail type.
func Known(t string) bool { _, ok := registry[t]; return ok }

// New returns a new, empty value of the Go type of detail type t (false when t is unknown), for
// code that reads the types themselves, such as the audit line's field list.
func New(t string) (Detail, bool) {
	newDetail, ok := registry[t]
	if !ok {
		return nil, false
	}
	return newDetail(), true
}

// Envelope is the EventBridge event as a rule target (an SQS queue, a function) receives it.
type Envelope struct {
	Version    string          `json:"version"`
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Account    string          `json:"account"`
	Time       time.Time       `json:"time"`
	Region     string          `json:"region"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`
}

// ErrUnknownDetailType is returned for a detail type Lanyard does not define.
var ErrUnknownDetailType = errors.New("unknown detail type")

// Decode parses an EventBridge envelope and its detail into the matching Go type.
func Decode(body []byte) (Envelope, Detail, error) {
	var env Envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return Envelope{}, nil, fmt.Errorf("decode event envelope: %w", err)
	}
	if env.Source != Source {
		return env, nil, fmt.Errorf("decode event %s: source %q is not %q", env.ID, env.Source, Source)
	}
	newDetail, ok := registry[env.DetailType]
	if !ok {
		return env, nil, fmt.Errorf("decode event %s: %w %q", env.ID, ErrUnknownDetailType, env.DetailType)
	}
	d := newDetail()
	if err := json.Unmarshal(env.Detail, d); err != nil {
		return env, nil, fmt.Errorf("decode %s detail of event %s: %w", env.DetailType, env.ID, err)
	}
	if d.Header().EventID == "" {
		return env, nil, fmt.Errorf("decode %s detail of event %s: no eventId", env.DetailType, env.ID)
	}
	return env, d, nil
}

// Marshal returns the detail type and detail JSON to put on the bus (PutEvents entry).
func Marshal(d Detail) (string, []byte, error) {
	if !Known(d.DetailType()) {
		return "", nil, fmt.Errorf("marshal event: %w %q", ErrUnknownDetailType, d.DetailType())
	}
	if d.Header().EventID == "" {
		return "", nil, fmt.Errorf("marshal %s: no eventId (build its Meta with NewMeta)", d.DetailType())
	}
	b, err := json.Marshal(d)
	if err != nil {
		return "", nil, fmt.Errorf("marshal %s detail: %w", d.DetailType(), err)
	}
	return d.DetailType(), b, nil
}
