// Package dynamodbtest holds an in-memory DynamoDB for the unit tests of every package that
// keeps state in DynamoDB (the outbox and its relay, the registry, invites, onboarding): the
// operations they use, with DynamoDB's conditional-write and all-or-nothing transaction
// semantics, and a change log standing in for a table's stream.
//
// The fake is checked against DynamoDB Local: the outbox package's integration test runs the
// same scenarios against both.
package dynamodbtest

import (
	"context"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// KeyAttr is a key attribute of a table.
type KeyAttr struct {
	Name string
	Type types.ScalarAttributeType
}

// Item is a DynamoDB item.
type Item = map[string]types.AttributeValue

// Change is one write as the table's stream records it. Writes that leave an item as it was
// record nothing, as in DynamoDB Streams.
type Change struct {
	EventName string // INSERT, MODIFY, REMOVE
	Keys      Item
	NewImage  Item // nil for REMOVE
	OldImage  Item // nil for INSERT
}

// DynamoDB is an in-memory DynamoDB holding the operations the outbox and the relay use:
// GetItem, PutItem, UpdateItem, Query, Scan, BatchGetItem and TransactWriteItems, on tables with
// a partition key, an optional sort key and global secondary indexes. What it models:
//
//   - condition expressions on every write, failing with *types.ConditionalCheckFailedException
//     (with the old item when ReturnValuesOnConditionCheckFailure is ALL_OLD);
//   - transactions all or nothing: every condition is checked before anything is written, and
//     a failure cancels all with *types.TransactionCanceledException whose CancellationReasons
//     say, per item, None or ConditionalCheckFailed; two operations on one item, or more than
//     100 items, are a ValidationException (as AWS answers; DynamoDB Local accepts two
//     operations on one item and checks the later one's condition against the earlier one's
//     write);
//   - the request validation DynamoDB does: keys must match the schema, every expression
//     attribute name and value must be defined and used, key attributes cannot be updated, bare
//     reserved words are refused;
//   - Query in sort key order (numbers by value), with Limit, ExclusiveStartKey and a
//     LastEvaluatedKey when Limit stopped it short of the last matching item (DynamoDB Local
//     answers none when Limit is met at the last one; AWS may answer one, and then an empty
//     page: the SDK's paginators take both);
//   - BatchGetItem with at most 100 distinct keys, leaving keys past BatchGetLimit unprocessed;
//   - Query on a global secondary index (CreateIndex): sparse, in index key order, consistent
//     reads refused; Scan of a whole table in one page.
//
// Every read is strongly consistent. Numbers keep the text they were written with (DynamoDB
// normalises them) but compare, and key, by value. Anything outside the subset (projection,
// filters, Limit on indexes, nested paths, ADD/DELETE, functions in SET) fails with an error
// saying the fake does not support it. It is safe for concurrent use.
type DynamoDB struct {
	// BatchGetLimit, when above 0, is the most items one BatchGetItem answers; the rest of the
	// keys come back as UnprocessedKeys.
	BatchGetLimit int
	// Intercept, when set, runs before every call, outside the fake's lock, with the operation
	// name ("TransactWriteItems", …) and its input. An error it returns is the call's answer and
	// nothing is done; it may itself call the fake (to slip in a competing write).
	Intercept func(op string, in any) error

	mu     sync.Mutex
	tables map[string]*table
	calls  map[string]int
}

type table struct {
	pk      KeyAttr
	sk      *KeyAttr
	items   map[string]Item
	changes []Change
	indexes map[string]*index
}

// index is a global secondary index (projection ALL).
type index struct {
	pk KeyAttr
	sk *KeyAttr
}

// NewDynamoDB returns an empty fake.
func NewDynamoDB() *DynamoDB {
	return &DynamoDB{tables: map[string]*table{}, calls: map[string]int{}}
}

// CreateTable adds an empty table; sk is nil for a table without a sort key.
func (d *DynamoDB) CreateTable(name string, pk KeyAttr, sk *KeyAttr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.tables[name] = &table{pk: pk, sk: sk, items: map[string]Item{}}
}

// CreateIndex adds a global secondary index, projecting every attribute, to a table created
// before; sk is nil for an index without a sort key. An item is in the index when it has the
// index's key attributes with their declared types, as in DynamoDB (a sparse index).
func (d *DynamoDB) CreateIndex(tableName, name string, pk KeyAttr, sk *KeyAttr) {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tables[tableName]
	if t.indexes == nil {
		t.indexes = map[string]*index{}
	}
	t.indexes[name] = &index{pk: pk, sk: sk}
}

// Items returns every item of the table, in key order.
func (d *DynamoDB) Items(name string) []Item {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tables[name]
	if t == nil {
		return nil
	}
	var out []Item
	for _, it := range t.sorted() {
		out = append(out, cloneItem(it))
	}
	return out
}

// Changes returns the table's change log, oldest first.
func (d *DynamoDB) Changes(name string) []Change {
	d.mu.Lock()
	defer d.mu.Unlock()
	t := d.tables[name]
	if t == nil {
		return nil
	}
	out := make([]Change, len(t.changes))
	for i, c := range t.changes {
		out[i] = Change{EventName: c.EventName, Keys: cloneItem(c.Keys), NewImage: cloneItem(c.NewImage), OldImage: cloneItem(c.OldImage)}
	}
	return out
}

// Calls says how many calls of the operation the fake answered (refusals included).
func (d *DynamoDB) Calls(op string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.calls[op]
}

func (d *DynamoDB) begin(op string, in any) error {
	if d.Intercept != nil {
		if err := d.Intercept(op, in); err != nil {
			return err
		}
	}
	d.mu.Lock()
	d.calls[op]++
	return nil
}

// validation is DynamoDB's ValidationException.
func validation(format string, args ...any) error {
	return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf(format, args...), Fault: smithy.FaultClient}
}

func unsupported(what string) error {
	return fmt.Errorf("dynamodbtest: %s is not supported by the fake", what)
}

func (d *DynamoDB) table(name *string) (*table, error) {
	t := d.tables[aws.ToString(name)]
	if t == nil {
		return nil, &types.ResourceNotFoundException{Message: aws.String("Cannot do operations on a non-existent table")}
	}
	return t, nil
}

// keyOf checks key has exactly the table's key attributes, of the right types and not empty,
// and returns its map key.
func (t *table) keyOf(key Item, exact bool) (string, error) {
	attrs := []KeyAttr{t.pk}
	if t.sk != nil {
		attrs = append(attrs, *t.sk)
	}
	if exact && len(key) != len(attrs) {
		return "", validation("The provided key element does not match the schema")
	}
	var parts []string
	for _, a := range attrs {
		v, ok := key[a.Name]
		if !ok {
			if exact {
				return "", validation("The provided key element does not match the schema")
			}
			return "", validation("One or more parameter values were invalid: Missing the key %s in the item", a.Name)
		}
		if typeOf(v) != string(a.Type) {
			return "", validation("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", a.Name, a.Type, typeOf(v))
		}
		switch x := v.(type) {
		case *types.AttributeValueMemberS:
			if x.Value == "" {
				return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty string value. Key: %s", a.Name)
			}
			parts = append(parts, "S"+x.Value)
		case *types.AttributeValueMemberN:
			n, ok := number(x.Value)
			if !ok {
				return "", validation("The parameter cannot be converted to a numeric value: %s", x.Value)
			}
			parts = append(parts, "N"+n.RatString())
		case *types.AttributeValueMemberB:
			if len(x.Value) == 0 {
				return "", validation("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty binary value. Key: %s", a.Name)
			}
			parts = append(parts, "B"+hex.EncodeToString(x.Value))
		}
	}
	return strings.Join(parts, "\x00"), nil
}

func (t *table) keyAttrs(item Item) Item {
	k := Item{t.pk.Name: item[t.pk.Name]}
	if t.sk != nil {
		k[t.sk.Name] = item[t.sk.Name]
	}
	return cloneItem(k)
}

func (t *table) isKey(name string) bool {
	return name == t.pk.Name || (t.sk != nil && name == t.sk.Name)
}

// sorted returns the items in partition then sort key order.
func (t *table) sorted() []Item {
	items := slices.Collect(maps.Values(t.items))
	slices.SortFunc(items, func(a, b Item) int {
		if c, _ := compare(a[t.pk.Name], b[t.pk.Name]); c != 0 {
			return c
		}
		if t.sk == nil {
			return 0
		}
		c, _ := compare(a[t.sk.Name], b[t.sk.Name])
		return c
	})
	return items
}

// write is one prepared write (or condition check) of a single call or a transaction.
type write struct {
	t         *table
	key       string
	keyAttrs  Item
	cond      node
	apply     func(old Item) (Item, error) // nil: a condition check; returning nil deletes
	returnOld bool
}

func (w write) check(old Item) bool {
	if w.cond == nil {
		return true
	}
	if old == nil {
		old = Item{}
	}
	return w.cond.eval(old)
}

// commit applies the write and logs the change.
func (w write) commit(old Item) error {
	if w.apply == nil {
		return nil
	}
	next, err := w.apply(old)
	if err != nil {
		return err
	}
	var c Change
	switch {
	case next == nil && old == nil:
		return nil
	case next == nil:
		delete(w.t.items, w.key)
		c = Change{EventName: "REMOVE", Keys: w.keyAttrs, OldImage: cloneItem(old)}
	default:
		if old != nil && equal(&types.AttributeValueMemberM{Value: old}, &types.AttributeValueMemberM{Value: next}) {
			return nil
		}
		w.t.items[w.key] = next
		c = Change{EventName: "MODIFY", Keys: w.keyAttrs, NewImage: cloneItem(next), OldImage: cloneItem(old)}
		if old == nil {
			c.EventName, c.OldImage = "INSERT", nil
		}
	}
	w.t.changes = append(w.t.changes, c)
	return nil
}

func (d *DynamoDB) condition(expr *string, ctx *exprContext) (node, error) {
	if expr == nil {
		return nil, nil
	}
	return parseCondition(ctx, "ConditionExpression", *expr)
}

// guard parses a write's condition (required: a ConditionCheck must have one), checks every
// expression name and value was used, and reads ReturnValuesOnConditionCheckFailure.
func (d *DynamoDB) guard(cond *string, ctx *exprContext, rv types.ReturnValuesOnConditionCheckFailure, required bool) (node, bool, error) {
	n, err := d.condition(cond, ctx)
	if err != nil {
		return nil, false, err
	}
	if required && n == nil {
		return nil, false, validation("ConditionCheck needs a ConditionExpression")
	}
	if err := ctx.checkAllUsed(); err != nil {
		return nil, false, err
	}
	old, err := returnsOld(rv)
	if err != nil {
		return nil, false, err
	}
	return n, old, nil
}

func returnsOld(v types.ReturnValuesOnConditionCheckFailure) (bool, error) {
	switch v {
	case "", types.ReturnValuesOnConditionCheckFailureNone:
		return false, nil
	case types.ReturnValuesOnConditionCheckFailureAllOld:
		return true, nil
	}
	return false, validation("invalid ReturnValuesOnConditionCheckFailure %q", v)
}

func (d *DynamoDB) preparePut(tableName *string, item Item, cond *string, names map[string]string, values map[string]types.AttributeValue, rv types.ReturnValuesOnConditionCheckFailure) (write, error) {
	t, err := d.table(tableName)
	if err != nil {
		return write{}, err
	}
	k, err := t.keyOf(item, false)
	if err != nil {
		return write{}, err
	}
	if err := validItem(item); err != nil {
		return write{}, err
	}
	ctx := newExprContext(names, values)
	n, old, err := d.guard(cond, ctx, rv, false)
	if err != nil {
		return write{}, err
	}
	stored := cloneItem(item)
	return write{t: t, key: k, keyAttrs: t.keyAttrs(item), cond: n, returnOld: old,
		apply: func(Item) (Item, error) { return cloneItem(stored), nil }}, nil
}

func (d *DynamoDB) prepareUpdate(tableName *string, key Item, expr, cond *string, names map[string]string, values map[string]types.AttributeValue, rv types.ReturnValuesOnConditionCheckFailure) (write, error) {
	t, err := d.table(tableName)
	if err != nil {
		return write{}, err
	}
	k, err := t.keyOf(key, true)
	if err != nil {
		return write{}, err
	}
	if expr == nil {
		return write{}, unsupported("UpdateItem without an UpdateExpression (AttributeUpdates)")
	}
	ctx := newExprContext(names, values)
	u, err := parseUpdate(ctx, *expr)
	if err != nil {
		return write{}, err
	}
	for _, a := range u.set {
		if t.isKey(a.path) {
			return write{}, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", a.path)
		}
		if a.value.path == "" {
			if err := validItem(Item{a.path: a.value.value}); err != nil {
				return write{}, err
			}
		}
	}
	for _, p := range u.remove {
		if t.isKey(p) {
			return write{}, validation("One or more parameter values were invalid: Cannot update attribute %s. This attribute is part of the key", p)
		}
	}
	n, old, err := d.guard(cond, ctx, rv, false)
	if err != nil {
		return write{}, err
	}
	keyAttrs := cloneItem(key)
	apply := func(prev Item) (Item, error) {
		next := cloneItem(prev)
		if next == nil {
			next = cloneItem(keyAttrs)
		}
		for _, a := range u.set {
			v := a.value.resolve(prev)
			if v == nil {
				return nil, validation("The provided expression refers to an attribute that does not exist in the item")
			}
			next[a.path] = cloneValue(v)
		}
		for _, p := range u.remove {
			delete(next, p)
		}
		return next, nil
	}
	return write{t: t, key: k, keyAttrs: keyAttrs, cond: n, returnOld: old, apply: apply}, nil
}

func (d *DynamoDB) prepareKeyed(tableName *string, key Item, cond *string, names map[string]string, values map[string]types.AttributeValue, rv types.ReturnValuesOnConditionCheckFailure, del bool) (write, error) {
	t, err := d.table(tableName)
	if err != nil {
		return write{}, err
	}
	k, err := t.keyOf(key, true)
	if err != nil {
		return write{}, err
	}
	ctx := newExprContext(names, values)
	n, old, err := d.guard(cond, ctx, rv, !del)
	if err != nil {
		return write{}, err
	}
	w := write{t: t, key: k, keyAttrs: cloneItem(key), cond: n, returnOld: old}
	if del {
		w.apply = func(Item) (Item, error) { return nil, nil }
	}
	return w, nil
}

// GetItem implements the DynamoDB operation (every read is consistent).
func (d *DynamoDB) GetItem(_ context.Context, in *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	if err := d.begin("GetItem", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if in.ProjectionExpression != nil || in.AttributesToGet != nil {
		return nil, unsupported("projection")
	}
	if len(in.ExpressionAttributeNames) > 0 {
		return nil, validation("ExpressionAttributeNames can only be specified when using expressions")
	}
	t, err := d.table(in.TableName)
	if err != nil {
		return nil, err
	}
	k, err := t.keyOf(in.Key, true)
	if err != nil {
		return nil, err
	}
	return &dynamodb.GetItemOutput{Item: cloneItem(t.items[k])}, nil
}

// PutItem implements the DynamoDB operation.
func (d *DynamoDB) PutItem(_ context.Context, in *dynamodb.PutItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	if err := d.begin("PutItem", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if in.Expected != nil || in.ConditionalOperator != "" {
		return nil, unsupported("legacy conditions (Expected)")
	}
	w, err := d.preparePut(in.TableName, in.Item, in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, in.ReturnValuesOnConditionCheckFailure)
	if err != nil {
		return nil, err
	}
	old := w.t.items[w.key]
	if !w.check(old) {
		return nil, conditionFailed(w, old)
	}
	var out dynamodb.PutItemOutput
	switch in.ReturnValues {
	case "", types.ReturnValueNone:
	case types.ReturnValueAllOld:
		out.Attributes = cloneItem(old)
	default:
		return nil, unsupported("PutItem ReturnValues " + string(in.ReturnValues))
	}
	return &out, w.commit(old)
}

// UpdateItem implements the DynamoDB operation (SET and REMOVE).
func (d *DynamoDB) UpdateItem(_ context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	if err := d.begin("UpdateItem", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if in.Expected != nil || in.AttributeUpdates != nil {
		return nil, unsupported("legacy parameters (Expected, AttributeUpdates)")
	}
	w, err := d.prepareUpdate(in.TableName, in.Key, in.UpdateExpression, in.ConditionExpression, in.ExpressionAttributeNames, in.ExpressionAttributeValues, in.ReturnValuesOnConditionCheckFailure)
	if err != nil {
		return nil, err
	}
	old := w.t.items[w.key]
	if !w.check(old) {
		return nil, conditionFailed(w, old)
	}
	if err := w.commit(old); err != nil {
		return nil, err
	}
	var out dynamodb.UpdateItemOutput
	switch in.ReturnValues {
	case "", types.ReturnValueNone:
	case types.ReturnValueAllOld:
		out.Attributes = cloneItem(old)
	case types.ReturnValueAllNew:
		out.Attributes = cloneItem(w.t.items[w.key])
	default:
		return nil, unsupported("UpdateItem ReturnValues " + string(in.ReturnValues))
	}
	return &out, nil
}

func conditionFailed(w write, old Item) error {
	e := &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	if w.returnOld {
		e.Item = cloneItem(old)
	}
	return e
}

// TransactWriteItems implements the DynamoDB operation: all or nothing.
func (d *DynamoDB) TransactWriteItems(_ context.Context, in *dynamodb.TransactWriteItemsInput, _ ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	if err := d.begin("TransactWriteItems", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if n := len(in.TransactItems); n == 0 || n > 100 {
		return nil, validation("1 validation error detected: Value at 'transactItems' failed to satisfy constraint: Member must have length between 1 and 100 (it has %d)", n)
	}
	writes := make([]write, 0, len(in.TransactItems))
	seen := map[string]bool{}
	for i, ti := range in.TransactItems {
		var w write
		var err error
		kinds := 0
		if p := ti.Put; p != nil {
			kinds++
			w, err = d.preparePut(p.TableName, p.Item, p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues, p.ReturnValuesOnConditionCheckFailure)
		}
		if u := ti.Update; u != nil {
			kinds++
			w, err = d.prepareUpdate(u.TableName, u.Key, u.UpdateExpression, u.ConditionExpression, u.ExpressionAttributeNames, u.ExpressionAttributeValues, u.ReturnValuesOnConditionCheckFailure)
		}
		if del := ti.Delete; del != nil {
			kinds++
			w, err = d.prepareKeyed(del.TableName, del.Key, del.ConditionExpression, del.ExpressionAttributeNames, del.ExpressionAttributeValues, del.ReturnValuesOnConditionCheckFailure, true)
		}
		if c := ti.ConditionCheck; c != nil {
			kinds++
			w, err = d.prepareKeyed(c.TableName, c.Key, c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues, c.ReturnValuesOnConditionCheckFailure, false)
		}
		if kinds != 1 {
			return nil, validation("TransactItems[%d] must hold exactly one of Put, Update, Delete and ConditionCheck", i)
		}
		if err != nil {
			return nil, err
		}
		id := fmt.Sprintf("%p/%s", w.t, w.key)
		if seen[id] {
			return nil, validation("Transaction request cannot include multiple operations on one item")
		}
		seen[id] = true
		writes = append(writes, w)
	}

	reasons := make([]types.CancellationReason, len(writes))
	failed := false
	for i, w := range writes {
		old := w.t.items[w.key]
		if w.check(old) {
			reasons[i] = types.CancellationReason{Code: aws.String("None")}
			continue
		}
		failed = true
		reasons[i] = types.CancellationReason{Code: aws.String("ConditionalCheckFailed"), Message: aws.String("The conditional request failed")}
		if w.returnOld {
			reasons[i].Item = cloneItem(old)
		}
	}
	if failed {
		codes := make([]string, len(reasons))
		for i, r := range reasons {
			codes[i] = aws.ToString(r.Code)
		}
		return nil, &types.TransactionCanceledException{
			Message:             aws.String("Transaction cancelled, please refer cancellation reasons for specific reasons [" + strings.Join(codes, ", ") + "]"),
			CancellationReasons: reasons,
		}
	}
	// Apply to copies first, so an error while applying leaves nothing half written.
	for _, w := range writes {
		if w.apply == nil {
			continue
		}
		if _, err := w.apply(w.t.items[w.key]); err != nil {
			return nil, err
		}
	}
	for _, w := range writes {
		if err := w.commit(w.t.items[w.key]); err != nil {
			return nil, err
		}
	}
	return &dynamodb.TransactWriteItemsOutput{}, nil
}

// Query implements the DynamoDB operation on a table's key: the partition key's equality, and
// optionally one condition on the sort key.
func (d *DynamoDB) Query(_ context.Context, in *dynamodb.QueryInput, _ ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	if err := d.begin("Query", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	switch {
	case in.IndexName != nil:
		return d.queryIndex(in)
	case in.FilterExpression != nil || in.ProjectionExpression != nil || in.KeyConditions != nil || in.Select != "":
		return nil, unsupported("Query filters, projections, Select and legacy KeyConditions")
	case in.KeyConditionExpression == nil:
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	t, err := d.table(in.TableName)
	if err != nil {
		return nil, err
	}
	ctx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	cond, err := parseCondition(ctx, "KeyConditionExpression", *in.KeyConditionExpression)
	if err != nil {
		return nil, err
	}
	if err := ctx.checkAllUsed(); err != nil {
		return nil, err
	}
	if err := t.checkKeyCondition(cond); err != nil {
		return nil, err
	}
	items := t.sorted()
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(items)
	}
	start := 0
	if in.ExclusiveStartKey != nil {
		if _, err := t.keyOf(in.ExclusiveStartKey, true); err != nil {
			return nil, validation("The provided starting key is invalid: %v", err)
		}
		// Begin after the start key, whether or not it is still in the table.
		forward := in.ScanIndexForward == nil || *in.ScanIndexForward
		start = len(items)
		for i, it := range items {
			if c := t.order(it, in.ExclusiveStartKey); forward && c > 0 || !forward && c < 0 {
				start = i
				break
			}
		}
	}
	limit := int(aws.ToInt32(in.Limit))
	out := &dynamodb.QueryOutput{}
	for _, it := range items[start:] {
		if !cond.eval(it) {
			continue
		}
		if limit > 0 && len(out.Items) == limit {
			// Limit stopped the query with more to read.
			out.LastEvaluatedKey = t.keyAttrs(out.Items[limit-1])
			break
		}
		out.Items = append(out.Items, cloneItem(it))
	}
	out.Count = int32(len(out.Items)) //nolint:gosec // bounded by the items of an in-memory table
	out.ScannedCount = out.Count
	return out, nil
}

// queryIndex answers a Query on a global secondary index: its items in index key order (ties in
// table key order), eventually consistent in DynamoDB, so a consistent read is refused as
// DynamoDB refuses it. Limit is taken (a page of that many items, with the last one's keys as
// LastEvaluatedKey when more match); ExclusiveStartKey is outside the subset.
func (d *DynamoDB) queryIndex(in *dynamodb.QueryInput) (*dynamodb.QueryOutput, error) {
	switch {
	case in.FilterExpression != nil || in.ProjectionExpression != nil || in.KeyConditions != nil || in.Select != "":
		return nil, unsupported("Query filters, projections, Select and legacy KeyConditions")
	case in.ExclusiveStartKey != nil:
		return nil, unsupported("ExclusiveStartKey on an index")
	case in.Limit != nil && *in.Limit < 1:
		return nil, validation("Limit must be at least 1")
	case aws.ToBool(in.ConsistentRead):
		return nil, validation("Consistent reads are not supported on global secondary indexes")
	case in.KeyConditionExpression == nil:
		return nil, validation("Either the KeyConditions or KeyConditionExpression parameter must be specified in the request.")
	}
	t, err := d.table(in.TableName)
	if err != nil {
		return nil, err
	}
	idx := t.indexes[aws.ToString(in.IndexName)]
	if idx == nil {
		return nil, validation("The table does not have the specified index: %s", aws.ToString(in.IndexName))
	}
	view := &table{pk: idx.pk, sk: idx.sk}
	ctx := newExprContext(in.ExpressionAttributeNames, in.ExpressionAttributeValues)
	cond, err := parseCondition(ctx, "KeyConditionExpression", *in.KeyConditionExpression)
	if err != nil {
		return nil, err
	}
	if err := ctx.checkAllUsed(); err != nil {
		return nil, err
	}
	if err := view.checkKeyCondition(cond); err != nil {
		return nil, err
	}
	var items []Item
	for _, it := range t.sorted() {
		if typeOf(it[idx.pk.Name]) != string(idx.pk.Type) || idx.sk != nil && typeOf(it[idx.sk.Name]) != string(idx.sk.Type) {
			continue
		}
		items = append(items, it)
	}
	slices.SortStableFunc(items, view.order)
	if in.ScanIndexForward != nil && !*in.ScanIndexForward {
		slices.Reverse(items)
	}
	out := &dynamodb.QueryOutput{}
	for _, it := range items {
		if !cond.eval(it) {
			continue
		}
		if in.Limit != nil && len(out.Items) == int(*in.Limit) {
			last := out.Items[len(out.Items)-1]
			out.LastEvaluatedKey = Item{}
			for _, k := range []*KeyAttr{&t.pk, t.sk, &idx.pk, idx.sk} {
				if k != nil {
					out.LastEvaluatedKey[k.Name] = last[k.Name]
				}
			}
			break
		}
		out.Items = append(out.Items, cloneItem(it))
	}
	out.Count = int32(len(out.Items)) //nolint:gosec // bounded by the items of an in-memory table
	out.ScannedCount = out.Count
	return out, nil
}

// Scan implements the DynamoDB operation without filters, projections, Limit or segments:
// every item of the table, in key order, in one page.
func (d *DynamoDB) Scan(_ context.Context, in *dynamodb.ScanInput, _ ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error) {
	if err := d.begin("Scan", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	if in.FilterExpression != nil || in.ProjectionExpression != nil || in.Limit != nil || in.ExclusiveStartKey != nil ||
		in.Segment != nil || in.TotalSegments != nil || in.IndexName != nil || in.Select != "" || in.ScanFilter != nil {
		return nil, unsupported("Scan filters, projections, Limit, segments and indexes")
	}
	t, err := d.table(in.TableName)
	if err != nil {
		return nil, err
	}
	out := &dynamodb.ScanOutput{}
	for _, it := range t.sorted() {
		out.Items = append(out.Items, cloneItem(it))
	}
	out.Count = int32(len(out.Items)) //nolint:gosec // bounded by the items of an in-memory table
	out.ScannedCount = out.Count
	return out, nil
}

// order compares an item's key with another key, in table order.
func (t *table) order(a, b Item) int {
	if c, _ := compare(a[t.pk.Name], b[t.pk.Name]); c != 0 {
		return c
	}
	if t.sk == nil {
		return 0
	}
	c, _ := compare(a[t.sk.Name], b[t.sk.Name])
	return c
}

// checkKeyCondition accepts the shapes DynamoDB accepts: pk = :v, optionally AND one condition
// on the sort key (=, <, <=, >, >=, BETWEEN, begins_with) with values on the right.
func (t *table) checkKeyCondition(n node) error {
	bad := validation("Query key condition not supported")
	isPKEq := func(n node) bool {
		c, ok := n.(cmpNode)
		return ok && c.op == "=" && c.l.path == t.pk.Name && c.r.path == ""
	}
	isSK := func(n node) bool {
		if t.sk == nil {
			return false
		}
		switch c := n.(type) {
		case cmpNode:
			return c.op != "<>" && c.l.path == t.sk.Name && c.r.path == ""
		case betweenNode:
			return c.x.path == t.sk.Name && c.lo.path == "" && c.hi.path == ""
		case beginsNode:
			return c.x.path == t.sk.Name && c.prefix.path == ""
		}
		return false
	}
	if isPKEq(n) {
		return nil
	}
	if a, ok := n.(andNode); ok && (isPKEq(a.l) && isSK(a.r) || isSK(a.l) && isPKEq(a.r)) {
		return nil
	}
	return bad
}

// BatchGetItem implements the DynamoDB operation.
func (d *DynamoDB) BatchGetItem(_ context.Context, in *dynamodb.BatchGetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	if err := d.begin("BatchGetItem", in); err != nil {
		return nil, err
	}
	defer d.mu.Unlock()
	total := 0
	for _, ka := range in.RequestItems {
		total += len(ka.Keys)
	}
	if total == 0 || total > 100 {
		return nil, validation("Too many items requested for the BatchGetItem call (%d keys; 1 to 100)", total)
	}
	out := &dynamodb.BatchGetItemOutput{Responses: map[string][]Item{}, UnprocessedKeys: map[string]types.KeysAndAttributes{}}
	answered := 0
	for _, name := range slices.Sorted(maps.Keys(in.RequestItems)) {
		ka := in.RequestItems[name]
		if ka.ProjectionExpression != nil || ka.AttributesToGet != nil || ka.ExpressionAttributeNames != nil {
			return nil, unsupported("BatchGetItem projections")
		}
		t, err := d.table(aws.String(name))
		if err != nil {
			return nil, err
		}
		seen := map[string]bool{}
		for _, key := range ka.Keys {
			k, err := t.keyOf(key, true)
			if err != nil {
				return nil, err
			}
			if seen[k] {
				return nil, validation("Provided list of item keys contains duplicates")
			}
			seen[k] = true
			if d.BatchGetLimit > 0 && answered >= d.BatchGetLimit {
				u := out.UnprocessedKeys[name]
				u.Keys, u.ConsistentRead = append(u.Keys, cloneItem(key)), ka.ConsistentRead
				out.UnprocessedKeys[name] = u
				continue
			}
			answered++
			if it := t.items[k]; it != nil {
				out.Responses[name] = append(out.Responses[name], cloneItem(it))
			}
		}
	}
	return out, nil
}

// validItem refuses what DynamoDB refuses in non-key attributes: malformed numbers and empty
// sets.
func validItem(item Item) error {
	for name, v := range item {
		if err := validValue(v); err != nil {
			return validation("One or more parameter values were invalid: attribute %s: %v", name, err)
		}
	}
	return nil
}

func validValue(v types.AttributeValue) error {
	switch x := v.(type) {
	case *types.AttributeValueMemberN:
		if _, ok := number(x.Value); !ok {
			return fmt.Errorf("%q is not a number", x.Value)
		}
	case *types.AttributeValueMemberSS:
		if len(x.Value) == 0 {
			return fmt.Errorf("an empty set")
		}
	case *types.AttributeValueMemberNS:
		if len(x.Value) == 0 {
			return fmt.Errorf("an empty set")
		}
	case *types.AttributeValueMemberBS:
		if len(x.Value) == 0 {
			return fmt.Errorf("an empty set")
		}
	case *types.AttributeValueMemberL:
		for _, e := range x.Value {
			if err := validValue(e); err != nil {
				return err
			}
		}
	case *types.AttributeValueMemberM:
		for _, e := range x.Value {
			if err := validValue(e); err != nil {
				return err
			}
		}
	case nil, *types.UnknownUnionMember:
		return fmt.Errorf("no value")
	}
	return nil
}

func cloneItem(it Item) Item {
	if it == nil {
		return nil
	}
	out := make(Item, len(it))
	for k, v := range it {
		out[k] = cloneValue(v)
	}
	return out
}

func cloneValue(v types.AttributeValue) types.AttributeValue {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return &types.AttributeValueMemberS{Value: x.Value}
	case *types.AttributeValueMemberN:
		return &types.AttributeValueMemberN{Value: x.Value}
	case *types.AttributeValueMemberB:
		return &types.AttributeValueMemberB{Value: slices.Clone(x.Value)}
	case *types.AttributeValueMemberBOOL:
		return &types.AttributeValueMemberBOOL{Value: x.Value}
	case *types.AttributeValueMemberNULL:
		return &types.AttributeValueMemberNULL{Value: x.Value}
	case *types.AttributeValueMemberSS:
		return &types.AttributeValueMemberSS{Value: slices.Clone(x.Value)}
	case *types.AttributeValueMemberNS:
		return &types.AttributeValueMemberNS{Value: slices.Clone(x.Value)}
	case *types.AttributeValueMemberBS:
		bs := make([][]byte, len(x.Value))
		for i, b := range x.Value {
			bs[i] = slices.Clone(b)
		}
		return &types.AttributeValueMemberBS{Value: bs}
	case *types.AttributeValueMemberL:
		l := make([]types.AttributeValue, len(x.Value))
		for i, e := range x.Value {
			l[i] = cloneValue(e)
		}
		return &types.AttributeValueMemberL{Value: l}
	case *types.AttributeValueMemberM:
		return &types.AttributeValueMemberM{Value: cloneItem(x.Value)}
	}
	return v
}
