// Package itemread reads the attributes of a table item for the stores' hand-written readers:
// each accessor names the attribute in its error, and the errors of one item are collected, so
// a reader reports everything wrong with an item at once.
package itemread

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Reader reads one item. Its zero value reads an empty item.
type Reader struct {
	item map[string]types.AttributeValue
	errs []error
}

// New reads item.
func New(item map[string]types.AttributeValue) *Reader { return &Reader{item: item} }

// String is the S attribute name, or "": an error when it is required and missing, or present
// and not an S.
func (r *Reader) String(name string, required bool) string {
	v, ok := r.item[name].(*types.AttributeValueMemberS)
	if !ok {
		if required || r.item[name] != nil {
			r.Add(fmt.Errorf("attribute %s missing or not a string", name))
		}
		return ""
	}
	return v.Value
}

// Number is the N attribute name as an int64, or 0: an error when it is required and missing,
// present and not an N, or not an integer.
func (r *Reader) Number(name string, required bool) int64 {
	v, ok := r.item[name].(*types.AttributeValueMemberN)
	if !ok {
		if required || r.item[name] != nil {
			r.Add(fmt.Errorf("attribute %s missing or not a number", name))
		}
		return 0
	}
	i, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		r.Add(fmt.Errorf("attribute %s: %w", name, err))
	}
	return i
}

// Time is the S attribute name read as RFC 3339 (RFC3339Nano), in UTC; the zero time when it
// is absent or empty. Errors as String's, and when it does not parse.
func (r *Reader) Time(name string, required bool) time.Time {
	s := r.String(name, required)
	if s == "" {
		return time.Time{}
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		r.Add(fmt.Errorf("attribute %s: %w", name, err))
	}
	return t.UTC()
}

// Add records an error of the item found by the caller.
func (r *Reader) Add(err error) { r.errs = append(r.errs, err) }

// Err is every error recorded, joined in the order found; nil when there was none.
func (r *Reader) Err() error { return errors.Join(r.errs...) }
