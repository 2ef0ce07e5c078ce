// Package auditline is the audit log's one line format: each decision Lanyard records becomes
// one CloudWatch Logs event in the audit log group (topology.AuditLogGroupName) whose message is
// the JSON of a Line, and each window of refused onboardings one aggregate Line (Refusals).
//
// Delivery to the audit log is at least once (PutLogEvents is not idempotent), so a line may
// appear more than once; its eventId is what readers collapse duplicates by. An aggregate line's
// eventId is derived from its window and reason, so a repeat collapses the same way.
package auditline

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		Decision:      "refused",
		Justification: reason,
		Count:         count,
		WindowStart:   start,
		WindowEnd:     windowEnd.UTC().Format(time.RFC3339),
	}
}

// Message is the line as the audit log event's message: its JSON on one line, with no HTML
// escaping (a justification's "<" stays "<").
func (l Line) Message() (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(l); err != nil {
		return "", fmt.Errorf("encode the audit line of event %s: %w", l.EventID, err)
	}
	return string(bytes.TrimRight(buf.Bytes(), "\n")), nil
}
