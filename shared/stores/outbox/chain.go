package outbox

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/lanyardhq/lanyard/events"
)

// Chains. Every record belongs to one chain, the outbox table's partition; a chain's records
// serialize behind its head, so decisions that must not wait for one another go on different
// chains:
//
//   - a partner's lifecycle chain, whose id is the partner id: onboarding, keys issued, picked
//     up, rotated, acknowledged, retired and revoked, and what enforcement reports of them;
//   - a partner's exchange lanes, ExchangeChain(partner, lane): the token exchanges, which are
//     frequent (a premium partner may call 200 times a second) and would otherwise queue behind
//     one head item. A lane is one execution environment of the token function, which runs one
//     request at a time: its lane never meets a concurrent writer, and it keeps its head in
//     memory (Lane), so an exchange's record costs one transaction and no read;
//   - the ops chain, OpsChain: decisions of operators that concern no partner yet (an invite
//     issued).
//
// Every chain has an owner, the partner id its events carry (events.AllPartners for the ops
// chain): ChainOwner. The head item stores it, and the table's ChainsIndex lists an owner's
// chains (Store.Chains).
const (
	// OpsChain is the chain of ops-only decisions.
	OpsChain = "ops"
	// exchangeInfix separates a partner id from its exchange lane's id.
	exchangeInfix = "/exchanges/"
)

// ChainsIndex is the outbox table's index of chain heads by owner (partition key "owner", sort
// key "chain"): only head items carry an owner.
const ChainsIndex = "chains"

// ExchangeChain is the id of partner partnerID's token exchange lane lane.
func ExchangeChain(partnerID, lane string) string { return partnerID + exchangeInfix + lane }

// ChainOwner is the partner id the events of chain carry: the partner itself for its
// lifecycle chain and its exchange lanes, events.AllPartners for the ops chain.
func ChainOwner(chain string) string {
	if chain == OpsChain {
		return events.AllPartners
	}
	if i := strings.Index(chain, exchangeInfix); i > 0 {
		return chain[:i]
	}
	return chain
}

// checkChain refuses an empty chain id, and an event whose partner does not own the chain.
func checkChain(chain string, d events.Detail) error {
	if chain == "" {
		return fmt.Errorf("outbox: no chain")
	}
	if d == nil {
		return fmt.Errorf("outbox: no event for chain %s", chain)
	}
	if d.Header().Record != nil {
		// The relay adds where a record sits to the event it publishes; a stored detail that
		// held one would be refused by the relay forever.
		return fmt.Errorf("outbox: event %s already names a record", d.Header().EventID)
	}
	if m := d.Header(); m.PartnerID != ChainOwner(chain) {
		return fmt.Errorf("outbox: event %s is for partner %q, chain %s belongs to %q", m.EventID, m.PartnerID, chain, ChainOwner(chain))
	}
	return nil
}

// AuditPendingShards is how many partition values the audit-pending index spreads the records
// not yet written to the audit log over, so a busy deployment does not make one hot key.
const AuditPendingShards = 16

// auditShard is the audit-pending index partition of chain's records.
func auditShard(chain string) string {
	h := fnv.New32a()
	_, _ = h.Write([]byte(chain))
	return strconv.Itoa(int(h.Sum32() % AuditPendingShards))
}
