// Package auditline is the audit log's one line format: each decision Lanyard records becomes
// one CloudWatch Logs event in the audit log group (topology.AuditLogGroupName) whose message is
// the JSON of a Line, and each window of refused onboardings one aggregate Line (Refusals).
//
// A line is built from the EventBridge event alone (FromEvent): the decision's id, type, time,
// actor and partner from the detail's Meta; where its outbox record sits (chain, sequence,
// previous hash, hash) from Meta.Record, which the relay adds to the event it publishes; the
// decision's verb from its detail type (Decision); the justification from the detail's
// justification, reason or note; and the detail itself, less its record. A line therefore never
// holds anything the event does not, and events never hold a key, an invite code or a pick-up
// token: only public key ids and hashes.
//
// Delivery to the audit log is at least once (PutLogEvents is not idempotent), so a line may
// appear more than once; its eventId is what readers collapse duplicates by. An aggregate line's
// eventId is derived from its window and reason, so a repeat collapses the same way.
//
// Fields lists every field a line can carry as Logs Insights names them once it has flattened
// the JSON (nested members joined by ".", array elements by their index), derived from the Go
// types: the saved queries are checked against it.
package auditline

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/lanyardhq/lanyard/events"
)

// Schema names the line format; a reader may refuse a line of another.
const Schema = "lanyard.audit.v1"

// TypeOnboardingRefusals is the detail type of the aggregate lines of refused onboardings. It is
// not a bus event: refused onboardings are unauthenticated and may come in floods, so they are
// counted by window and reason, and each count is one line.
const TypeOnboardingRefusals = "Onboarding Refusals"

// ActorAnonymous is the actor kind of the refused onboardings' lines: nobody proved who they
// are.
const ActorAnonymous = "anonymous"

// Line is one audit log event's message.
type Line struct {
	Schema        string       `json:"schema"`
	EventID       string       `json:"eventId"`
	DetailType    string       `json:"detailType"`
	Time          string       `json:"time"` // RFC 3339 UTC, the decision's time
	Actor         events.Actor `json:"actor"`
	PartnerID     string       `json:"partnerId"` // events.AllPartners when the decision concerns none
	Decision      string       `json:"decision"`
	Justification string       `json:"justification,omitempty"`
	// Chain, Seq, PrevHash and Hash say where the decision's outbox record sits; empty for an
	// event that did not come from the outbox and for aggregates.
	Chain    string `json:"chain,omitempty"`
	Seq      int64  `json:"seq,omitempty"`
	PrevHash string `json:"prevHash,omitempty"`
	Hash     string `json:"hash,omitempty"`
	// Count, WindowStart and WindowEnd are set on aggregate lines only.
	Count       int64  `json:"count,omitempty"`
	WindowStart string `json:"windowStart,omitempty"`
	WindowEnd   string `json:"windowEnd,omitempty"`
	// Detail is the event's detail, less its "record" member.
	Detail json.RawMessage `json:"detail,omitempty"`
}

// decisions holds the verb of each detail type: what was decided, as ops search for it.
var decisions = map[string]string{
	events.TypePartnerOnboarded:               "onboarded",
	events.TypeCredentialIssued:               "issued",
	events.TypeCredentialRotated:              "rotated",
	events.TypeCredentialRotationFailed:       "rotation-failed",
	events.TypeCredentialRevoked:              "revoked",
	events.TypeRevocationEnforced:             "enforced",
	events.TypeRevocationCompleted:            "completed",
	events.TypeRevocationStalled:              "stalled",
	events.TypeAuditExported:                  "exported",
	events.TypeTokenExchanged:                 "exchanged",
	events.TypeCredentialPickedUp:             "picked-up",
	events.TypeInviteIssued:                   "invited",
	events.TypeCredentialRotationRequested:    "rotation-requested",
	events.TypeOnboardingPending:              "requested",
	events.TypeOnboardingApproved:             "approved",
	events.TypeOnboardingDenied:               "denied",
	events.TypeCredentialRotationAcknowledged: "acknowledged",
	events.TypeCredentialGraceEnding:          "warned",
	events.TypeCredentialRetired:              "retired",
	TypeOnboardingRefusals:                    "refused",
}

// Decision is the verb of a detail type ("revoked" for Credential Revoked). Every detail type
// has its own (a test holds the table to events.DetailTypes); a type this build does not know
// yet gets its name in lower case with dashes ("Token Exchanged" → "token-exchanged"), never "".
func Decision(detailType string) string {
	if d, ok := decisions[detailType]; ok {
		return d
	}
	d := strings.ToLower(strings.Join(strings.Fields(detailType), "-"))
	if d == "" {
		return "unknown"
	}
	return d
}

// ErrNotAuditable matches (errors.Is) the refusals of FromEvent: the event cannot become a line.
var ErrNotAuditable = errors.New("event cannot be audited")

// detailHead is what FromEvent reads of any detail, whatever its type: the Meta, its record
// included, and the members a justification is taken from.
type detailHead struct {
	events.Meta
	Justification json.RawMessage `json:"justification"`
	Reason        json.RawMessage `json:"reason"`
	Note          json.RawMessage `json:"note"`
}

// FromEvent builds the line of a Lanyard event as a rule target receives it. It reads the
// detail's Meta, its record (when the relay added one) and its justification, whatever the
// detail type, so an event of a type added after this build still gets its line. It refuses an
// event of another source, or whose detail is not a JSON object with an eventId and a time.
func FromEvent(env events.Envelope) (Line, error) {
	if env.Source != events.Source {
		return Line{}, fmt.Errorf("%w: event %s: source %q is not %q", ErrNotAuditable, env.ID, env.Source, events.Source)
	}
	if env.DetailType == "" {
		return Line{}, fmt.Errorf("%w: event %s: no detail type", ErrNotAuditable, env.ID)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(env.Detail, &members); err != nil || members == nil {
		return Line{}, fmt.Errorf("%w: event %s: the %s detail is not a JSON object", ErrNotAuditable, env.ID, env.DetailType)
	}
	var head detailHead
	if err := json.Unmarshal(env.Detail, &head); err != nil {
		return Line{}, fmt.Errorf("%w: event %s: read the %s detail: %w", ErrNotAuditable, env.ID, env.DetailType, err)
	}
	if head.EventID == "" || head.Time.IsZero() {
		return Line{}, fmt.Errorf("%w: event %s: the %s detail has no eventId or no time", ErrNotAuditable, env.ID, env.DetailType)
	}
	delete(members, "record")
	detail, err := marshal(members)
	if err != nil {
		return Line{}, fmt.Errorf("event %s: encode the %s detail: %w", env.ID, env.DetailType, err)
	}
	partner := head.PartnerID
	if partner == "" {
		partner = events.AllPartners
	}
	l := Line{
		Schema:        Schema,
		EventID:       head.EventID,
		DetailType:    env.DetailType,
		Time:          head.Time.UTC().Format(time.RFC3339Nano),
		Actor:         head.Actor,
		PartnerID:     partner,
		Decision:      Decision(env.DetailType),
		Justification: firstString(head.Justification, head.Reason, head.Note),
		Detail:        detail,
	}
	if r := head.Record; r != nil {
		l.Chain, l.Seq, l.PrevHash, l.Hash = r.Chain, r.Seq, r.PrevHash, r.Hash
	}
	return l, nil
}

// firstString is the first of the members that is a non-empty JSON string, or "".
func firstString(members ...json.RawMessage) string {
	for _, m := range members {
		var s string
		if len(m) > 0 && json.Unmarshal(m, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// Refusals is the aggregate line of count onboardings refused for reason in the window
// [windowStart, windowEnd). Its eventId is derived from the window's start and the reason, so
// writing the same window's count again collapses with the first; its time is the window's
// start.
func Refusals(windowStart, windowEnd time.Time, reason string, count int64) Line {
	start := windowStart.UTC().Format(time.RFC3339)
	return Line{
		Schema:        Schema,
		EventID:       "onboarding-refusals/" + start + "/" + reason,
		DetailType:    TypeOnboardingRefusals,
		Time:          start,
		Actor:         events.Actor{Kind: ActorAnonymous, ID: ""},
		PartnerID:     events.AllPartners,
		Decision:      Decision(TypeOnboardingRefusals),
		Justification: reason,
		Count:         count,
		WindowStart:   start,
		WindowEnd:     windowEnd.UTC().Format(time.RFC3339),
	}
}

// Message is the line as the audit log event's message: its JSON on one line, with no HTML
// escaping (a justification's "<" stays "<").
func (l Line) Message() (string, error) {
	b, err := marshal(l)
	if err != nil {
		return "", fmt.Errorf("encode the audit line of event %s: %w", l.EventID, err)
	}
	return string(b), nil
}

// At is the line's time as a time.Time (the log event's timestamp); zero when Time is not RFC
// 3339.
func (l Line) At() time.Time {
	t, err := time.Parse(time.RFC3339Nano, l.Time)
	if err != nil {
		return time.Time{}
	}
	return t
}

func marshal(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// Fields lists, sorted, every field a line can carry, named as Logs Insights names the fields of
// a JSON log event: nested members joined by "." ("actor.kind"), an array's elements by their
// index, of which the first is listed ("detail.keyIds.0", "detail.enforcers.0.enforcer"). The
// detail's fields are those of every registered detail type's Go type, under "detail."; the
// record member is not part of a line's detail.
func Fields() []string {
	set := map[string]bool{}
	flatten("", reflect.TypeFor[Line](), set, map[string]bool{"detail": true})
	for _, t := range events.DetailTypes() {
		d, _ := events.New(t)
		flatten("detail.", reflect.TypeOf(d), set, map[string]bool{"record": true})
	}
	out := make([]string, 0, len(set))
	for f := range set {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// flatten adds the flattened field names of a value of type t under prefix to set, leaving out
// the top-level members named in skip.
func flatten(prefix string, t reflect.Type, set map[string]bool, skip map[string]bool) {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType || t == rawType:
		set[strings.TrimSuffix(prefix, ".")] = true
	case t.Kind() == reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			name, _, _ := strings.Cut(tag, ",")
			if name == "-" {
				continue
			}
			if f.Anonymous && name == "" {
				flatten(prefix, f.Type, set, skip)
				continue
			}
			if name == "" {
				name = f.Name
			}
			if skip[name] {
				continue
			}
			flatten(prefix+name+".", f.Type, set, nil)
		}
	case t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		flatten(prefix+"0.", t.Elem(), set, nil)
	default:
		set[strings.TrimSuffix(prefix, ".")] = true
	}
}
