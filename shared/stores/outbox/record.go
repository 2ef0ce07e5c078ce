package outbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
	"github.com/lanyardhq/lanyard/shared/stores/attrtime"
	"github.com/lanyardhq/lanyard/shared/stores/itemread"
)

// Key attributes of the outbox table; the topology's declaration of table "outbox" must match.
const (
	PartitionKey = "chain" // S: the chain id (ChainOf)
	SortKey      = "seq"   // N: 0 is the chain head, 1, 2, … the records
)

// Attribute names of records and heads.
const (
	attrEventID     = "eventId"
	attrDetailType  = "detailType"
	attrDetail      = "detail"
	attrTime        = "time"
	attrPrevHash    = "prevHash"
	attrHash        = "hash"
	attrPublishedAt = "publishedAt"
	attrBusEventID  = "busEventId"
	attrHeadSeq     = "headSeq"
	attrHeadHash    = "headHash"
	attrOwner       = "owner"
	// attrAuditPending and attrCommittedAt key the audit-pending index: a record carries them
	// until the audit writer has written it (MarkAudited); attrAuditedAt says when it did.
	attrAuditPending = "auditPending"
	attrCommittedAt  = "committedAt"
	attrAuditedAt    = "auditedAt"
)

// Names of the attributes the relay writes when it has published a record.
const (
	AttrPublishedAt = attrPublishedAt
	AttrBusEventID  = attrBusEventID
)

// HeadSeq is the sort key of a chain's head.
const HeadSeq = 0

// GenesisHash is the prevHash of a chain's first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// EncodingVersion names the canonical encoding; it is the first field hashed.
const EncodingVersion = "lanyard.outbox.v1"

// Record is one entry of an audit chain: one decision and its event.
type Record struct {
	// Chain is the chain's id: the partner id for its lifecycle chain (ExchangeChain,
	// OpsChain for the others).
	Chain      string
	Seq        int64
	EventID    string
	DetailType string
	// Detail is the event's JSON exactly as stored (events.Marshal's output).
	Detail json.RawMessage
	// Time is the decision's time (the event's Meta.Time), in UTC.
	Time     time.Time
	PrevHash string
	Hash     string

	// PublishedAt and BusEventID are set by the relay once the event is on the bus (zero
	// until then); the hash does not cover them.
	PublishedAt time.Time
	BusEventID  string
}

// Head is a chain's head: the seq and hash of the latest record, or 0 and GenesisHash when the
// chain has none yet.
type Head struct {
	Chain string
	Seq   int64
	Hash  string
}

// FormatTime renders a record time as it is stored and hashed: RFC 3339 in UTC, with the
// fraction Go's time.RFC3339Nano prints.
func FormatTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// Canonical returns the record's canonical encoding (version 1, see the package
// documentation): what its hash is the SHA-256 of.
func (r Record) Canonical() []byte { return AppendCanonical(nil, r) }

// AppendCanonical appends r's canonical encoding to dst: each field, in this order, as its
// length in bytes, ':', the field and ','. Verifiers that hash many records reuse dst.
func AppendCanonical(dst []byte, r Record) []byte {
	dst = appendField(dst, EncodingVersion)
	dst = appendField(dst, r.Chain)
	var seq [20]byte
	dst = appendField(dst, strconv.AppendInt(seq[:0], r.Seq, 10))
	dst = appendField(dst, r.EventID)
	dst = appendField(dst, r.DetailType)
	var ts [64]byte
	dst = appendField(dst, r.Time.UTC().AppendFormat(ts[:0], time.RFC3339Nano))
	dst = appendField(dst, r.PrevHash)
	return appendField(dst, r.Detail)
}

// appendField appends f as a netstring and its comma.
func appendField[T ~string | ~[]byte](dst []byte, f T) []byte {
	dst = strconv.AppendInt(dst, int64(len(f)), 10)
	dst = append(dst, ':')
	dst = append(dst, f...)
	return append(dst, ',')
}

// ComputeHash returns the lowercase hex SHA-256 of the record's canonical encoding.
func (r Record) ComputeHash() string {
	var buf [512]byte
	sum := sha256.Sum256(AppendCanonical(buf[:0], r))
	return hex.EncodeToString(sum[:])
}

// Event decodes the record's detail into its Go type and checks it is the record's event: same
// detail type, event id, and the partner that owns the record's chain (ChainOwner).
func (r Record) Event() (events.Detail, error) {
	env, err := json.Marshal(events.Envelope{
		Version: "0", ID: r.EventID, DetailType: r.DetailType, Source: events.Source,
		Time: r.Time, Resources: []string{}, Detail: r.Detail,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox record %s/%d: encode its envelope: %w", r.Chain, r.Seq, err)
	}
	_, d, err := events.Decode(env)
	if err != nil {
		return nil, fmt.Errorf("outbox record %s/%d: %w", r.Chain, r.Seq, err)
	}
	if m := d.Header(); m.EventID != r.EventID || m.PartnerID != ChainOwner(r.Chain) {
		return nil, fmt.Errorf("outbox record %s/%d: its detail is event %s of partner %q, not event %s of chain %s", r.Chain, r.Seq, m.EventID, m.PartnerID, r.EventID, r.Chain)
	}
	return d, nil
}

// Key is the outbox table key of a chain's record seq (HeadSeq: the head).
func Key(chain string, seq int64) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{
		PartitionKey: &types.AttributeValueMemberS{Value: chain},
		SortKey:      &types.AttributeValueMemberN{Value: strconv.FormatInt(seq, 10)},
	}
}

// item is a record as the outbox table holds it. The hash chain covers these values: the
// goldens in testdata hold them byte for byte.
type item struct {
	Chain       string         `dynamodbav:"chain"`
	Seq         int64          `dynamodbav:"seq"`
	EventID     string         `dynamodbav:"eventId"`
	DetailType  string         `dynamodbav:"detailType"`
	Detail      string         `dynamodbav:"detail"` // the JSON as an S, never a B
	Time        attrtime.Time  `dynamodbav:"time"`
	PrevHash    string         `dynamodbav:"prevHash"`
	Hash        string         `dynamodbav:"hash"`
	PublishedAt *attrtime.Time `dynamodbav:"publishedAt,omitempty"`
	BusEventID  string         `dynamodbav:"busEventId,omitempty"`
}

// Item renders the record as its outbox table item.
func (r Record) Item() (map[string]types.AttributeValue, error) {
	m, err := attributevalue.MarshalMap(item{
		Chain: r.Chain, Seq: r.Seq, EventID: r.EventID, DetailType: r.DetailType, Detail: string(r.Detail),
		Time: attrtime.Of(r.Time), PrevHash: r.PrevHash, Hash: r.Hash,
		PublishedAt: attrtime.Opt(r.PublishedAt), BusEventID: r.BusEventID,
	})
	if err != nil {
		return nil, fmt.Errorf("outbox item %s/%d: %w", r.Chain, r.Seq, err)
	}
	return m, nil
}

// RecordFromItem reads a record from its outbox table item. It stays hand-written: its errors
// name the attribute that is missing or of another type.
func RecordFromItem(item map[string]types.AttributeValue) (Record, error) {
	chain, seq, err := KeyOf(item)
	if err != nil {
		return Record{}, err
	}
	if seq == HeadSeq {
		return Record{}, fmt.Errorf("outbox item %s/%d is the chain head, not a record", chain, seq)
	}
	r := Record{Chain: chain, Seq: seq}
	rd := itemread.New(item)
	str := rd.String
	r.EventID = str(attrEventID, true)
	r.DetailType = str(attrDetailType, true)
	r.Detail = json.RawMessage(str(attrDetail, true))
	r.PrevHash = str(attrPrevHash, true)
	r.Hash = str(attrHash, true)
	r.BusEventID = str(attrBusEventID, false)
	if s := str(attrTime, true); s != "" {
		if r.Time, err = time.Parse(time.RFC3339Nano, s); err != nil {
			rd.Add(fmt.Errorf("attribute %s: %w", attrTime, err))
		} else if FormatTime(r.Time) != s {
			rd.Add(fmt.Errorf("attribute %s %q is not in canonical form", attrTime, s))
		}
	}
	if s := str(attrPublishedAt, false); s != "" {
		if r.PublishedAt, err = time.Parse(time.RFC3339Nano, s); err != nil {
			rd.Add(fmt.Errorf("attribute %s: %w", attrPublishedAt, err))
		}
	}
	if err := rd.Err(); err != nil {
		return Record{}, fmt.Errorf("outbox record %s/%d: %w", chain, seq, err)
	}
	return r, nil
}

// KeyOf reads the chain id and seq of an outbox item (or of its key).
func KeyOf(item map[string]types.AttributeValue) (string, int64, error) {
	p, ok := item[PartitionKey].(*types.AttributeValueMemberS)
	if !ok || p.Value == "" {
		return "", 0, fmt.Errorf("outbox item without a string %s", PartitionKey)
	}
	s, ok := item[SortKey].(*types.AttributeValueMemberN)
	if !ok {
		return "", 0, fmt.Errorf("outbox item of chain %s without a number %s", p.Value, SortKey)
	}
	seq, err := ParseSeq(s.Value)
	if err != nil {
		return "", 0, fmt.Errorf("outbox item of chain %s: %w", p.Value, err)
	}
	return p.Value, seq, nil
}

// ParseSeq reads a seq attribute's number: a whole number from 0 up.
func ParseSeq(n string) (int64, error) {
	seq, err := strconv.ParseInt(n, 10, 64)
	if err != nil || seq < 0 {
		return 0, fmt.Errorf("%s %q is not a whole number from 0 up", SortKey, n)
	}
	return seq, nil
}

// headFromItem reads a chain's head; a missing item is the empty chain.
func headFromItem(chain string, item map[string]types.AttributeValue) (Head, error) {
	if item == nil {
		return Head{Chain: chain, Seq: 0, Hash: GenesisHash}, nil
	}
	n, ok := item[attrHeadSeq].(*types.AttributeValueMemberN)
	h, ok2 := item[attrHeadHash].(*types.AttributeValueMemberS)
	if !ok || !ok2 {
		return Head{}, fmt.Errorf("outbox head of chain %s: %s or %s missing", chain, attrHeadSeq, attrHeadHash)
	}
	seq, err := ParseSeq(n.Value)
	if err != nil || seq == 0 || !wellFormedHash(h.Value) {
		return Head{}, fmt.Errorf("outbox head of chain %s: malformed (%s %q, %s %q)", chain, attrHeadSeq, n.Value, attrHeadHash, h.Value)
	}
	return Head{Chain: chain, Seq: seq, Hash: h.Value}, nil
}

// wellFormedHash reports whether h is 64 lowercase hex digits.
func wellFormedHash(h string) bool {
	if len(h) != sha256.Size*2 {
		return false
	}
	for _, c := range h {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
