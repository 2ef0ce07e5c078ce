package outbox

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/lanyardhq/lanyard/events"
)

// Lane commits decisions to a chain it alone writes, such as a token exchange lane
// (ExchangeChain): it keeps the head of its last commit, so each decision is one
// TransactWriteItems call with no read of the head. Should the head have moved all the same
// (another writer, or a commit whose outcome was unknown), the transaction's condition fails
// and the Store's commit reads the head again and retries, as Store.Commit does.
//
// A Lane is not safe for concurrent use: it belongs to one execution environment, which runs
// one request at a time.
type Lane struct {
	Store *Store
	Chain string

	head  *Head
	stale bool // a commit failed: read the head before the next one
}

// Commit records d on the lane's chain in one transaction with stateChanges (Store.Commit).
func (l *Lane) Commit(ctx context.Context, d events.Detail, stateChanges []types.TransactWriteItem) (Record, error) {
	if l.head == nil && !l.stale {
		// A lane's id is new with its environment: its chain starts empty. Were it not, the
		// first transaction's condition would fail and the commit would read the head.
		l.head = &Head{Chain: l.Chain, Hash: GenesisHash}
	}
	records, err := l.Store.commitAll(ctx, l.Chain, l.head, []events.Detail{d}, stateChanges)
	if err != nil {
		// The outcome may be unknown (a timeout): read the head before the next commit.
		l.head, l.stale = nil, true
		return Record{}, err
	}
	r := records[len(records)-1]
	l.head, l.stale = &Head{Chain: r.Chain, Seq: r.Seq, Hash: r.Hash}, false
	return r, nil
}
