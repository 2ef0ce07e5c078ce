// Package itemtest renders DynamoDB items, and the transaction items that write them, as JSON
// that keeps each attribute's member type ({"S": …}, {"N": …}, {"SS": […]}, {"L": […]},
// {"BOOL": …}, {"M": {…}}, {"NULL": true}, {"B": base64}), and compares them with golden files
// in testdata/: the stores' codecs are held to the attribute maps they stored before, byte for
// byte.
package itemtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Value renders one attribute value with its member type.
func Value(v types.AttributeValue) (any, error) {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return map[string]any{"S": v.Value}, nil
	case *types.AttributeValueMemberN:
		return map[string]any{"N": v.Value}, nil
	case *types.AttributeValueMemberB:
		return map[string]any{"B": v.Value}, nil
	case *types.AttributeValueMemberBOOL:
		return map[string]any{"BOOL": v.Value}, nil
	case *types.AttributeValueMemberNULL:
		return map[string]any{"NULL": v.Value}, nil
	case *types.AttributeValueMemberSS:
		return map[string]any{"SS": nonNil(v.Value)}, nil
	case *types.AttributeValueMemberNS:
		return map[string]any{"NS": nonNil(v.Value)}, nil
	case *types.AttributeValueMemberBS:
		return map[string]any{"BS": v.Value}, nil
	case *types.AttributeValueMemberL:
		l := make([]any, len(v.Value))
		for i, x := range v.Value {
			r, err := Value(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = r
		}
		return map[string]any{"L": l}, nil
	case *types.AttributeValueMemberM:
		m, err := Item(v.Value)
		if err != nil {
			return nil, err
		}
		return map[string]any{"M": m}, nil
	}
	return nil, fmt.Errorf("attribute value of type %T", v)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Item renders an item (or a key, or expression attribute values) attribute by attribute.
func Item(item map[string]types.AttributeValue) (map[string]any, error) {
	if item == nil {
		return nil, nil
	}
	out := make(map[string]any, len(item))
	for k, v := range item {
		r, err := Value(v)
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}

// TransactWriteItem renders a transaction item: its kind (Put, Update, Delete,
// ConditionCheck), table, key or item, expressions, names and values.
func TransactWriteItem(ti types.TransactWriteItem) (map[string]any, error) {
	out := map[string]any{}
	add := func(kind string, table *string, key, item map[string]types.AttributeValue, update, cond *string, names map[string]string, values map[string]types.AttributeValue) error {
		r := map[string]any{}
		if table != nil {
			r["TableName"] = *table
		}
		for name, m := range map[string]map[string]types.AttributeValue{"Key": key, "Item": item, "ExpressionAttributeValues": values} {
			if m == nil {
				continue
			}
			v, err := Item(m)
			if err != nil {
				return fmt.Errorf("%s %s: %w", kind, name, err)
			}
			r[name] = v
		}
		if update != nil {
			r["UpdateExpression"] = *update
		}
		if cond != nil {
			r["ConditionExpression"] = *cond
		}
		if names != nil {
			r["ExpressionAttributeNames"] = names
		}
		out[kind] = r
		return nil
	}
	var err error
	switch {
	case ti.Put != nil:
		p := ti.Put
		err = add("Put", p.TableName, nil, p.Item, nil, p.ConditionExpression, p.ExpressionAttributeNames, p.ExpressionAttributeValues)
	case ti.Update != nil:
		u := ti.Update
		err = add("Update", u.TableName, u.Key, nil, u.UpdateExpression, u.ConditionExpression, u.ExpressionAttributeNames, u.ExpressionAttributeValues)
	case ti.Delete != nil:
		d := ti.Delete
		err = add("Delete", d.TableName, d.Key, nil, nil, d.ConditionExpression, d.ExpressionAttributeNames, d.ExpressionAttributeValues)
	case ti.ConditionCheck != nil:
		c := ti.ConditionCheck
		err = add("ConditionCheck", c.TableName, c.Key, nil, nil, c.ConditionExpression, c.ExpressionAttributeNames, c.ExpressionAttributeValues)
	default:
		err = fmt.Errorf("empty transaction item")
	}
	return out, err
}

// Parse reads an item rendered by Item back into attribute values.
func Parse(data []byte) (map[string]types.AttributeValue, error) {
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse item: %w", err)
	}
	out := make(map[string]types.AttributeValue, len(raw))
	for k, v := range raw {
		av, err := parseValue(v)
		if err != nil {
			return nil, fmt.Errorf("parse attribute %s: %w", k, err)
		}
		out[k] = av
	}
	return out, nil
}

func parseValue(data []byte) (types.AttributeValue, error) {
	var m struct {
		S    *string
		N    *string
		B    []byte
		BOOL *bool
		NULL *bool
		SS   []string
		NS   []string
		BS   [][]byte
		L    []json.RawMessage
		M    json.RawMessage
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	switch {
	case m.S != nil:
		return &types.AttributeValueMemberS{Value: *m.S}, nil
	case m.N != nil:
		return &types.AttributeValueMemberN{Value: *m.N}, nil
	case m.B != nil:
		return &types.AttributeValueMemberB{Value: m.B}, nil
	case m.BOOL != nil:
		return &types.AttributeValueMemberBOOL{Value: *m.BOOL}, nil
	case m.NULL != nil:
		return &types.AttributeValueMemberNULL{Value: *m.NULL}, nil
	case m.SS != nil:
		return &types.AttributeValueMemberSS{Value: m.SS}, nil
	case m.NS != nil:
		return &types.AttributeValueMemberNS{Value: m.NS}, nil
	case m.BS != nil:
		return &types.AttributeValueMemberBS{Value: m.BS}, nil
	case m.L != nil:
		l := make([]types.AttributeValue, len(m.L))
		for i, x := range m.L {
			v, err := parseValue(x)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			l[i] = v
		}
		return &types.AttributeValueMemberL{Value: l}, nil
	case m.M != nil:
		inner, err := Parse(m.M)
		if err != nil {
			return nil, err
		}
		return &types.AttributeValueMemberM{Value: inner}, nil
	}
	return nil, fmt.Errorf("no member type in %s", data)
}

// Golden compares v (a rendering from Item or TransactWriteItem) with testdata/<name>.json, as
// indented JSON, byte for byte; update rewrites the file instead. It returns the golden bytes.
func Golden(t *testing.T, name string, v any, update bool) []byte {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	got = append(got, '\n')
	path := filepath.Join("testdata", name+".json")
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o600); err != nil {
			t.Fatal(err)
		}
		return got
	}
	want, err := os.ReadFile(path) //nolint:gosec // a test's own testdata
	if err != nil {
		t.Fatalf("read golden %s (write it with -update): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from its golden\n got: %s\nwant: %s", path, got, want)
	}
	return want
}

// GoldenItem is Golden for an item; it returns the item the golden file holds, parsed back.
func GoldenItem(t *testing.T, name string, item map[string]types.AttributeValue, update bool) map[string]types.AttributeValue {
	t.Helper()
	r, err := Item(item)
	if err != nil {
		t.Fatalf("render %s: %v", name, err)
	}
	want := Golden(t, name, r, update)
	parsed, err := Parse(want)
	if err != nil {
		t.Fatalf("golden %s: %v", name, err)
	}
	return parsed
}

// GoldenTransactItems is Golden for transaction items.
func GoldenTransactItems(t *testing.T, name string, update bool, items ...types.TransactWriteItem) {
	t.Helper()
	rs := make([]any, len(items))
	for i, ti := range items {
		r, err := TransactWriteItem(ti)
		if err != nil {
			t.Fatalf("render %s[%d]: %v", name, i, err)
		}
		rs[i] = r
	}
	Golden(t, name, rs, update)
}

// Write renders a single write a store makes outside a transaction (a *dynamodb.PutItemInput
// or *dynamodb.UpdateItemInput) as TransactWriteItem renders the same write in a transaction,
// with ReturnValuesOnConditionCheckFailure when it is set.
func Write(in any) (map[string]any, error) {
	var (
		out map[string]any
		err error
		rv  types.ReturnValuesOnConditionCheckFailure
	)
	switch in := in.(type) {
	case *dynamodb.PutItemInput:
		rv = in.ReturnValuesOnConditionCheckFailure
		out, err = TransactWriteItem(types.TransactWriteItem{Put: &types.Put{
			TableName: in.TableName, Item: in.Item, ConditionExpression: in.ConditionExpression,
			ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues,
		}})
	case *dynamodb.UpdateItemInput:
		rv = in.ReturnValuesOnConditionCheckFailure
		out, err = TransactWriteItem(types.TransactWriteItem{Update: &types.Update{
			TableName: in.TableName, Key: in.Key, UpdateExpression: in.UpdateExpression, ConditionExpression: in.ConditionExpression,
			ExpressionAttributeNames: in.ExpressionAttributeNames, ExpressionAttributeValues: in.ExpressionAttributeValues,
		}})
	default:
		return nil, fmt.Errorf("write of type %T", in)
	}
	if err != nil || rv == "" {
		return out, err
	}
	for _, r := range out {
		r.(map[string]any)["ReturnValuesOnConditionCheckFailure"] = string(rv)
	}
	return out, nil
}

// GoldenWrites is Golden for writes rendered by Write.
func GoldenWrites(t *testing.T, name string, update bool, writes ...any) {
	t.Helper()
	rs := make([]any, len(writes))
	for i, w := range writes {
		r, err := Write(w)
		if err != nil {
			t.Fatalf("render %s[%d]: %v", name, i, err)
		}
		rs[i] = r
	}
	Golden(t, name, rs, update)
}

// InUTC returns v with every time.Time field of it (and of the structs it embeds or holds) in
// UTC, as the codecs read times back.
func InUTC[T any](v T) T {
	rv := reflect.ValueOf(&v).Elem()
	inUTC(rv)
	return v
}

var timeType = reflect.TypeFor[time.Time]()

func inUTC(v reflect.Value) {
	switch {
	case v.Type() == timeType:
		if v.CanSet() {
			v.Set(reflect.ValueOf(v.Interface().(time.Time).UTC()))
		}
	case v.Kind() == reflect.Struct:
		for i := range v.NumField() {
			if f := v.Field(i); f.CanSet() {
				inUTC(f)
			}
		}
	}
}

// Must is v, failing the test with err when there is one: itemtest.Must(e.Item())(t).
func Must[T any](v T, err error) func(testing.TB) T {
	return func(t testing.TB) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}
