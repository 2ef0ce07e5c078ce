package dynamodbtest

import (
	"bytes"
	"fmt"
	"math/big"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The expression language the fake understands: a subset of DynamoDB's, refused loudly beyond
// it (an error saying the fake does not support it), never misread.
//
//	condition  := or
//	or         := and { OR and }
//	and        := not { AND not }
//	not        := NOT not | primary
//	primary    := "(" condition ")"
//	            | attribute_exists(path) | attribute_not_exists(path) | begins_with(path, operand)
//	            | operand comparator operand | operand BETWEEN operand AND operand
//	            | operand IN "(" operand { "," operand } ")"
//	comparator := = | <> | < | <= | > | >=
//	operand    := path | :value
//	path       := name | #name          (top-level attributes only: no "." or "[i]")
//	update     := clause { clause }     (each of SET and REMOVE at most once)
//	clause     := SET path = operand { "," path = operand } | REMOVE path { "," path }

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokName  // #name
	tokValue // :value
	tokOp    // = <> < <= > >=
	tokLParen
	tokRParen
	tokComma
)

type token struct {
	kind tokenKind
	text string
}

func tokenize(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '(':
			out = append(out, token{tokLParen, "("})
			i++
		case c == ')':
			out = append(out, token{tokRParen, ")"})
			i++
		case c == ',':
			out = append(out, token{tokComma, ","})
			i++
		case c == '=':
			out = append(out, token{tokOp, "="})
			i++
		case c == '<' || c == '>':
			op := string(c)
			if i+1 < len(s) && (s[i+1] == '=' || (c == '<' && s[i+1] == '>')) {
				op += string(s[i+1])
			}
			out = append(out, token{tokOp, op})
			i += len(op)
		case c == '#' || c == ':' || isWordByte(c):
			j := i + 1
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			kind := tokIdent
			switch c {
			case '#':
				kind = tokName
			case ':':
				kind = tokValue
			}
			if j == i+1 && kind != tokIdent {
				return nil, fmt.Errorf("syntax error; token: %q", string(c))
			}
			out = append(out, token{kind, s[i:j]})
			i = j
		case c == '.' || c == '[':
			return nil, fmt.Errorf("nested document paths are not supported by the fake")
		default:
			return nil, fmt.Errorf("syntax error; token: %q (or not supported by the fake)", string(c))
		}
	}
	return append(out, token{kind: tokEOF}), nil
}

func isWordByte(c byte) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// reserved are DynamoDB reserved words likely to be picked as attribute names. A bare one in an
// expression is refused, as DynamoDB refuses it (checked against DynamoDB Local by the outbox
// package's integration test); the full list is longer.
var reserved = []string{
	"count", "data", "date", "hash", "key", "name", "state", "status", "table",
	"time", "timestamp", "ttl", "type", "user", "value", "year",
}

// ReservedWords returns the reserved words the fake refuses bare in an expression.
func ReservedWords() []string { return slices.Clone(reserved) }

// exprContext resolves #names and :values and records which were used.
type exprContext struct {
	names      map[string]string
	values     map[string]types.AttributeValue
	usedNames  map[string]bool
	usedValues map[string]bool
}

func newExprContext(names map[string]string, values map[string]types.AttributeValue) *exprContext {
	return &exprContext{names: names, values: values, usedNames: map[string]bool{}, usedValues: map[string]bool{}}
}

// checkAllUsed refuses names or values the request defines but no expression uses.
func (c *exprContext) checkAllUsed() error {
	var unusedNames, unusedValues []string
	for k := range c.names {
		if !c.usedNames[k] {
			unusedNames = append(unusedNames, k)
		}
	}
	for k := range c.values {
		if !c.usedValues[k] {
			unusedValues = append(unusedValues, k)
		}
	}
	slices.Sort(unusedNames)
	slices.Sort(unusedValues)
	if len(unusedNames) > 0 {
		return validation("Value provided in ExpressionAttributeNames unused in expressions: keys: {%s}", strings.Join(unusedNames, ", "))
	}
	if len(unusedValues) > 0 {
		return validation("Value provided in ExpressionAttributeValues unused in expressions: keys: {%s}", strings.Join(unusedValues, ", "))
	}
	return nil
}

// operand is an attribute of the item (path) or a literal (value).
type operand struct {
	path  string
	value types.AttributeValue
}

func (o operand) resolve(item map[string]types.AttributeValue) types.AttributeValue {
	if o.path != "" {
		return item[o.path]
	}
	return o.value
}

// node is a parsed condition.
type node interface {
	eval(item map[string]types.AttributeValue) bool
}

type andNode struct{ l, r node }
type orNode struct{ l, r node }
type notNode struct{ x node }
type cmpNode struct {
	op   string
	l, r operand
}
type betweenNode struct{ x, lo, hi operand }
type inNode struct {
	x    operand
	list []operand
}
type existsNode struct {
	path string
	want bool
}
type beginsNode struct{ x, prefix operand }

func (n andNode) eval(it map[string]types.AttributeValue) bool { return n.l.eval(it) && n.r.eval(it) }
func (n orNode) eval(it map[string]types.AttributeValue) bool  { return n.l.eval(it) || n.r.eval(it) }
func (n notNode) eval(it map[string]types.AttributeValue) bool { return !n.x.eval(it) }
func (n existsNode) eval(it map[string]types.AttributeValue) bool {
	_, ok := it[n.path]
	return ok == n.want
}

func (n cmpNode) eval(it map[string]types.AttributeValue) bool {
	l, r := n.l.resolve(it), n.r.resolve(it)
	if l == nil || r == nil {
		// A missing attribute compares as nothing: false, and <> true.
		return n.op == "<>" && (l != nil || r != nil)
	}
	switch n.op {
	case "=":
		return equal(l, r)
	case "<>":
		return !equal(l, r)
	}
	c, ok := compare(l, r)
	if !ok {
		return false
	}
	switch n.op {
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	default: // ">="
		return c >= 0
	}
}

func (n betweenNode) eval(it map[string]types.AttributeValue) bool {
	x, lo, hi := n.x.resolve(it), n.lo.resolve(it), n.hi.resolve(it)
	if x == nil || lo == nil || hi == nil {
		return false
	}
	a, ok1 := compare(x, lo)
	b, ok2 := compare(x, hi)
	return ok1 && ok2 && a >= 0 && b <= 0
}

func (n inNode) eval(it map[string]types.AttributeValue) bool {
	x := n.x.resolve(it)
	if x == nil {
		return false
	}
	return slices.ContainsFunc(n.list, func(o operand) bool {
		v := o.resolve(it)
		return v != nil && equal(x, v)
	})
}

func (n beginsNode) eval(it map[string]types.AttributeValue) bool {
	x, p := n.x.resolve(it), n.prefix.resolve(it)
	switch xv := x.(type) {
	case *types.AttributeValueMemberS:
		pv, ok := p.(*types.AttributeValueMemberS)
		return ok && strings.HasPrefix(xv.Value, pv.Value)
	case *types.AttributeValueMemberB:
		pv, ok := p.(*types.AttributeValueMemberB)
		return ok && bytes.HasPrefix(xv.Value, pv.Value)
	}
	return false
}

// parser reads one expression.
type parser struct {
	ctx  *exprContext
	toks []token
	pos  int
	what string // "ConditionExpression", "KeyConditionExpression", "UpdateExpression"
}

func newParser(ctx *exprContext, what, expr string) (*parser, error) {
	toks, err := tokenize(expr)
	if err != nil {
		return nil, validation("Invalid %s: %v", what, err)
	}
	return &parser{ctx: ctx, toks: toks, what: what}, nil
}

func (p *parser) peek() token { return p.toks[p.pos] }
func (p *parser) next() token {
	t := p.toks[p.pos]
	if t.kind != tokEOF {
		p.pos++
	}
	return t
}

func (p *parser) keyword(word string) bool {
	t := p.peek()
	if t.kind == tokIdent && strings.EqualFold(t.text, word) {
		p.pos++
		return true
	}
	return false
}

func (p *parser) fail(format string, args ...any) error {
	return validation("Invalid %s: %s", p.what, fmt.Sprintf(format, args...))
}

func (p *parser) expect(kind tokenKind, text string) error {
	if t := p.next(); t.kind != kind {
		return p.fail("syntax error; expected %q, found %q", text, t.text)
	}
	return nil
}

// parseCondition parses a whole condition expression.
func parseCondition(ctx *exprContext, what, expr string) (node, error) {
	p, err := newParser(ctx, what, expr)
	if err != nil {
		return nil, err
	}
	n, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.fail("syntax error; unexpected %q", t.text)
	}
	return n, nil
}

func (p *parser) or() (node, error) {
	l, err := p.and()
	if err != nil {
		return nil, err
	}
	for p.keyword("OR") {
		r, err := p.and()
		if err != nil {
			return nil, err
		}
		l = orNode{l, r}
	}
	return l, nil
}

func (p *parser) and() (node, error) {
	l, err := p.not()
	if err != nil {
		return nil, err
	}
	for p.keyword("AND") {
		r, err := p.not()
		if err != nil {
			return nil, err
		}
		l = andNode{l, r}
	}
	return l, nil
}

func (p *parser) not() (node, error) {
	if p.keyword("NOT") {
		x, err := p.not()
		if err != nil {
			return nil, err
		}
		return notNode{x}, nil
	}
	return p.primary()
}

func (p *parser) primary() (node, error) {
	t := p.peek()
	if t.kind == tokLParen {
		p.next()
		n, err := p.or()
		if err != nil {
			return nil, err
		}
		return n, p.expect(tokRParen, ")")
	}
	if t.kind == tokIdent && p.toks[p.pos+1].kind == tokLParen {
		return p.function()
	}
	x, err := p.operand()
	if err != nil {
		return nil, err
	}
	switch {
	case p.keyword("BETWEEN"):
		lo, err := p.orderedOperand("BETWEEN")
		if err != nil {
			return nil, err
		}
		if !p.keyword("AND") {
			return nil, p.fail("syntax error; BETWEEN without AND")
		}
		hi, err := p.orderedOperand("BETWEEN")
		if err != nil {
			return nil, err
		}
		return betweenNode{x, lo, hi}, nil
	case p.keyword("IN"):
		if err := p.expect(tokLParen, "("); err != nil {
			return nil, err
		}
		var list []operand
		for {
			o, err := p.operand()
			if err != nil {
				return nil, err
			}
			list = append(list, o)
			if p.peek().kind != tokComma {
				break
			}
			p.next()
		}
		return inNode{x, list}, p.expect(tokRParen, ")")
	}
	op := p.next()
	if op.kind != tokOp {
		return nil, p.fail("syntax error; expected a comparator, found %q", op.text)
	}
	var r operand
	if op.text == "=" || op.text == "<>" {
		r, err = p.operand()
	} else {
		r, err = p.orderedOperand(op.text)
	}
	if err != nil {
		return nil, err
	}
	return cmpNode{op: op.text, l: x, r: r}, nil
}

func (p *parser) function() (node, error) {
	name := strings.ToLower(p.next().text)
	p.next() // "("
	var args []operand
	for p.peek().kind != tokRParen {
		if len(args) > 0 {
			if err := p.expect(tokComma, ","); err != nil {
				return nil, err
			}
		}
		o, err := p.operand()
		if err != nil {
			return nil, err
		}
		args = append(args, o)
	}
	p.next() // ")"
	switch name {
	case "attribute_exists", "attribute_not_exists":
		if len(args) != 1 || args[0].path == "" {
			return nil, p.fail("%s takes one attribute name", name)
		}
		return existsNode{path: args[0].path, want: name == "attribute_exists"}, nil
	case "begins_with":
		if len(args) != 2 {
			return nil, p.fail("begins_with takes two operands")
		}
		return beginsNode{args[0], args[1]}, nil
	}
	return nil, p.fail("function %s is not supported by the fake", name)
}

// orderedOperand is the operand of <, <=, >, >= or BETWEEN: a literal must be S, N or B.
func (p *parser) orderedOperand(op string) (operand, error) {
	o, err := p.operand()
	if err != nil {
		return o, err
	}
	if o.path == "" && typeOf(o.value) != "S" && typeOf(o.value) != "N" && typeOf(o.value) != "B" {
		return o, p.fail("Incorrect operand type for operator or function; operator or function: %s, operand type: %s", op, typeOf(o.value))
	}
	return o, nil
}

func (p *parser) operand() (operand, error) {
	t := p.next()
	switch t.kind {
	case tokValue:
		v, ok := p.ctx.values[t.text]
		if !ok {
			return operand{}, validation("Invalid %s: An expression attribute value used in expression is not defined; attribute value: %s", p.what, t.text)
		}
		p.ctx.usedValues[t.text] = true
		return operand{value: v}, nil
	case tokName:
		n, ok := p.ctx.names[t.text]
		if !ok {
			return operand{}, validation("Invalid %s: An expression attribute name used in the document path is not defined; attribute name: %s", p.what, t.text)
		}
		p.ctx.usedNames[t.text] = true
		return operand{path: n}, nil
	case tokIdent:
		if slices.Contains(reserved, strings.ToLower(t.text)) {
			return operand{}, validation("Invalid %s: Attribute name is a reserved keyword; reserved keyword: %s", p.what, t.text)
		}
		return operand{path: t.text}, nil
	}
	return operand{}, p.fail("syntax error; expected an attribute or a value, found %q", t.text)
}

// update is a parsed update expression.
type update struct {
	set    []assignment
	remove []string
}

type assignment struct {
	path  string
	value operand
}

func parseUpdate(ctx *exprContext, expr string) (update, error) {
	var u update
	p, err := newParser(ctx, "UpdateExpression", expr)
	if err != nil {
		return u, err
	}
	seen := map[string]bool{}
	touched := map[string]bool{}
	touch := func(path string) error {
		if touched[path] {
			return p.fail("Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [%s], path two: [%s]", path, path)
		}
		touched[path] = true
		return nil
	}
	for p.peek().kind != tokEOF {
		t := p.next()
		clause := strings.ToUpper(t.text)
		if t.kind != tokIdent || (clause != "SET" && clause != "REMOVE") {
			return u, p.fail("syntax error; %q is not SET or REMOVE (ADD and DELETE are not supported by the fake)", t.text)
		}
		if seen[clause] {
			return u, p.fail(`The "%s" section can only be used once in an update expression`, clause)
		}
		seen[clause] = true
		for {
			target, err := p.operand()
			if err != nil {
				return u, err
			}
			if target.path == "" {
				return u, p.fail("syntax error; %s needs an attribute name", clause)
			}
			if err := touch(target.path); err != nil {
				return u, err
			}
			if clause == "SET" {
				if err := p.expect(tokOp, "="); err != nil {
					return u, err
				}
				if p.peek().kind == tokIdent && p.toks[p.pos+1].kind == tokLParen {
					return u, p.fail("functions in SET are not supported by the fake")
				}
				v, err := p.operand()
				if err != nil {
					return u, err
				}
				if nt := p.peek(); nt.kind != tokComma && nt.kind != tokEOF && (nt.kind != tokIdent || !isClause(nt.text)) {
					return u, p.fail("syntax error; unexpected %q after SET %s", nt.text, target.path)
				}
				u.set = append(u.set, assignment{path: target.path, value: v})
			} else {
				u.remove = append(u.remove, target.path)
			}
			if p.peek().kind != tokComma {
				break
			}
			p.next()
		}
	}
	if len(u.set) == 0 && len(u.remove) == 0 {
		return u, p.fail("the expression is empty")
	}
	return u, nil
}

func isClause(word string) bool {
	switch strings.ToUpper(word) {
	case "SET", "REMOVE", "ADD", "DELETE":
		return true
	}
	return false
}

// typeOf is an attribute value's DynamoDB type name.
func typeOf(v types.AttributeValue) string {
	switch v.(type) {
	case *types.AttributeValueMemberS:
		return "S"
	case *types.AttributeValueMemberN:
		return "N"
	case *types.AttributeValueMemberB:
		return "B"
	case *types.AttributeValueMemberBOOL:
		return "BOOL"
	case *types.AttributeValueMemberNULL:
		return "NULL"
	case *types.AttributeValueMemberSS:
		return "SS"
	case *types.AttributeValueMemberNS:
		return "NS"
	case *types.AttributeValueMemberBS:
		return "BS"
	case *types.AttributeValueMemberM:
		return "M"
	case *types.AttributeValueMemberL:
		return "L"
	}
	return "?"
}

// number parses a DynamoDB number.
func number(s string) (*big.Rat, bool) {
	return new(big.Rat).SetString(strings.TrimSpace(s))
}

// compare orders two scalars of one type (S bytewise, N numerically, B bytewise).
func compare(a, b types.AttributeValue) (int, bool) {
	switch av := a.(type) {
	case *types.AttributeValueMemberS:
		if bv, ok := b.(*types.AttributeValueMemberS); ok {
			return strings.Compare(av.Value, bv.Value), true
		}
	case *types.AttributeValueMemberN:
		if bv, ok := b.(*types.AttributeValueMemberN); ok {
			x, ok1 := number(av.Value)
			y, ok2 := number(bv.Value)
			if ok1 && ok2 {
				return x.Cmp(y), true
			}
		}
	case *types.AttributeValueMemberB:
		if bv, ok := b.(*types.AttributeValueMemberB); ok {
			return bytes.Compare(av.Value, bv.Value), true
		}
	}
	return 0, false
}

// equal compares attribute values as DynamoDB does: same type, same value (numbers by value,
// sets in any order).
func equal(a, b types.AttributeValue) bool {
	if typeOf(a) != typeOf(b) {
		return false
	}
	if c, ok := compare(a, b); ok {
		return c == 0
	}
	switch av := a.(type) {
	case *types.AttributeValueMemberBOOL:
		return av.Value == b.(*types.AttributeValueMemberBOOL).Value
	case *types.AttributeValueMemberNULL:
		return true
	case *types.AttributeValueMemberSS:
		return sameSet(av.Value, b.(*types.AttributeValueMemberSS).Value, func(x, y string) bool { return x == y })
	case *types.AttributeValueMemberNS:
		return sameSet(av.Value, b.(*types.AttributeValueMemberNS).Value, func(x, y string) bool {
			c, ok := compare(&types.AttributeValueMemberN{Value: x}, &types.AttributeValueMemberN{Value: y})
			return ok && c == 0
		})
	case *types.AttributeValueMemberBS:
		return sameSet(av.Value, b.(*types.AttributeValueMemberBS).Value, bytes.Equal)
	case *types.AttributeValueMemberL:
		bl := b.(*types.AttributeValueMemberL).Value
		return len(av.Value) == len(bl) && !slices.ContainsFunc(indexes(len(bl)), func(i int) bool { return !equal(av.Value[i], bl[i]) })
	case *types.AttributeValueMemberM:
		bm := b.(*types.AttributeValueMemberM).Value
		if len(av.Value) != len(bm) {
			return false
		}
		for k, v := range av.Value {
			w, ok := bm[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	}
	return false
}

func sameSet[E any](a, b []E, eq func(x, y E) bool) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.ContainsFunc(b, func(y E) bool { return eq(x, y) }) {
			return false
		}
	}
	return true
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}
