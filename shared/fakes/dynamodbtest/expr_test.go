package dynamodbtest

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

func s(v string) types.AttributeValue  { return &types.AttributeValueMemberS{Value: v} }
func n(v string) types.AttributeValue  { return &types.AttributeValueMemberN{Value: v} }
func b(v ...byte) types.AttributeValue { return &types.AttributeValueMemberB{Value: v} }

type values = map[string]types.AttributeValue

// validationMessage returns the message of a ValidationException, failing the test when err is
// anything else.
func validationMessage(t *testing.T, err error) string {
	t.Helper()
	var api smithy.APIError
	if !errors.As(err, &api) || api.ErrorCode() != "ValidationException" {
		t.Fatalf("error = %v, want a ValidationException", err)
	}
	return api.ErrorMessage()
}

// TestConditionEval pins what a condition expression answers on an item, one operator or
// function at a time.
func TestConditionEval(t *testing.T) {
	item := Item{
		"s":     s("banana"),
		"n":     n("10"),
		"nx":    n("1e2"),
		"neg":   n("-3.5"),
		"b":     b(0x01, 0xff),
		"t":     &types.AttributeValueMemberBOOL{Value: true},
		"nul":   &types.AttributeValueMemberNULL{Value: true},
		"ss":    &types.AttributeValueMemberSS{Value: []string{"x", "y"}},
		"ns":    &types.AttributeValueMemberNS{Value: []string{"1", "2"}},
		"l":     &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), n("1")}},
		"m":     &types.AttributeValueMemberM{Value: Item{"k": s("v")}},
		"empty": s(""),
		"dash":  s("a-b"),
	}
	vals := values{
		":banana": s("banana"),
		":apple":  s("apple"),
		":cherry": s("cherry"),
		":Banana": s("Banana"),
		":ban":    s("ban"),
		":nana":   s("nana"),
		":empty":  s(""),
		":9":      n("9"),
		":10":     n("10"),
		":ten":    n("10.00"),
		":100":    n("100"),
		":11":     n("11"),
		":minus4": n("-4"),
		":0":      n("0"),
		":s10":    s("10"),
		":b01":    b(0x01),
		":b01ff":  b(0x01, 0xff),
		":b02":    b(0x02),
		":b0100":  b(0x01, 0x00),
		":true":   &types.AttributeValueMemberBOOL{Value: true},
		":false":  &types.AttributeValueMemberBOOL{Value: false},
		":null":   &types.AttributeValueMemberNULL{Value: true},
		":ss":     &types.AttributeValueMemberSS{Value: []string{"y", "x"}},
		":ns":     &types.AttributeValueMemberNS{Value: []string{"2.0", "1"}},
		":l":      &types.AttributeValueMemberL{Value: []types.AttributeValue{s("a"), n("1.0")}},
		":lrev":   &types.AttributeValueMemberL{Value: []types.AttributeValue{n("1"), s("a")}},
		":m":      &types.AttributeValueMemberM{Value: Item{"k": s("v")}},
	}
	names := map[string]string{"#s": "s", "#n": "n", "#status": "status", "#dash": "dash", "#missing": "missing"}

	tests := []struct {
		expr string
		want bool
	}{
		// = and <> on every type, by value and type.
		{"s = :banana", true},
		{"s = :Banana", false}, // case matters
		{"s <> :apple", true},
		{"s <> :banana", false},
		{"n = :10", true},
		{"n = :ten", true}, // numbers by value, not text
		{"nx = :100", true},
		{"n = :s10", false}, // N is not S
		{"n <> :s10", true},
		{"b = :b01ff", true},
		{"b = :b01", false},
		{"t = :true", true},
		{"t = :false", false},
		{"nul = :null", true},
		{"ss = :ss", true}, // sets in any order
		{"ns = :ns", true}, // numbers in sets by value
		{"l = :l", true},   // lists element by element, numbers by value
		{"l = :lrev", false},
		{"m = :m", true},
		{"empty = :empty", true},
		{"s = s", true}, // two paths
		{"s = n", false},

		// Ordering: S bytewise, N numerically, B bytewise unsigned.
		{"s < :cherry", true},
		{"s < :apple", false},
		{"s > :Banana", true}, // 'b' > 'B'
		{"s >= :banana", true},
		{"s <= :banana", true},
		{"s > :ban", true}, // a prefix sorts first
		{"n > :9", true},   // 10 > 9: numeric, not lexical ("10" < "9")
		{"n < :9", false},
		{"n < :11", true},
		{"n <= :ten", true},
		{"n >= :ten", true},
		{"n > :10", false},
		{"neg < :0", true},
		{"neg > :minus4", true}, // -3.5 > -4
		{"nx > :11", true},      // 1e2
		{"b > :b01", true},      // a prefix sorts first
		{"b > :b0100", true},    // 0xff > 0x00, unsigned
		{"b < :b02", true},
		{"b >= :b01ff", true},
		{"n < :s10", false}, // across types: no order, false either way
		{"n > :s10", false},
		{"n >= :s10", false},
		{"s < s", false},
		{"s <= s", true},

		// A missing attribute: every comparison false but <>.
		{"missing = :banana", false},
		{"missing <> :banana", true},
		{"missing < :banana", false},
		{"missing >= :banana", false},
		{"#missing BETWEEN :apple AND :cherry", false},
		{"missing IN (:banana, :apple)", false},

		// BETWEEN, bounds included.
		{"n BETWEEN :9 AND :11", true},
		{"n BETWEEN :10 AND :ten", true},
		{"n BETWEEN :11 AND :100", false},
		{"n BETWEEN :minus4 AND :9", false},
		{"s BETWEEN :apple AND :cherry", true},
		{"s BETWEEN :banana AND :banana", true},
		{"s BETWEEN :Banana AND :apple", false},
		{"b BETWEEN :b01 AND :b02", true},
		{"n BETWEEN :s10 AND :100", false}, // a bound of another type
		{"n between :9 and :11", true},     // keywords in any case

		// IN.
		{"s IN (:apple, :banana, :cherry)", true},
		{"s IN (:banana)", true},
		{"s IN (:apple,:cherry)", false},
		{"n IN (:9, :ten)", true},
		{"n IN (:s10)", false},
		{"ss IN (:ss)", true},
		{"s in (:apple, s)", true},

		// Functions.
		{"attribute_exists(s)", true},
		{"attribute_exists(#missing)", false},
		{"attribute_exists(nul)", true}, // a NULL attribute exists
		{"attribute_exists(empty)", true},
		{"attribute_not_exists(missing)", true},
		{"attribute_not_exists(#s)", false},
		{"begins_with(s, :ban)", true},
		{"begins_with(s, :banana)", true},
		{"begins_with(s, :empty)", true},
		{"begins_with(s, :nana)", false},
		{"begins_with(s, :Banana)", false},
		{"begins_with(b, :b01)", true},
		{"begins_with(b, :b02)", false},
		{"begins_with(missing, :ban)", false},
		{"begins_with(s, :b01)", false}, // S against B
		{"begins_with(n, :s10)", false}, // N has no prefix
		{"begins_with ( s , :ban )", true},

		// Placeholders stand for any name, reserved or not.
		{"#s = :banana", true},
		{"#dash = :banana", false},
		{"#n > :9 AND #s = :banana", true},
		{"attribute_not_exists(#status)", true},

		// NOT binds tighter than AND, AND tighter than OR; parentheses override.
		{"NOT s = :apple", true},
		{"NOT NOT s = :apple", false},
		{"NOT attribute_exists(s)", false},
		{"s = :apple OR s = :banana", true},
		{"s = :apple AND n = :10", false},
		{"s = :apple AND n = :9 OR s = :banana", true},    // (F AND F) OR T
		{"s = :apple AND (n = :9 OR s = :banana)", false}, // F AND (F OR T)
		{"s = :banana OR s = :apple AND n = :9", true},    // T OR (F AND F)
		{"(s = :banana OR s = :apple) AND n = :9", false}, // (T OR F) AND F
		{"NOT s = :apple AND n = :9", false},              // (NOT F) AND F
		{"NOT (s = :apple AND n = :9)", true},             // NOT (F AND F)
		{"NOT s = :banana OR n = :10", true},              // (NOT T) OR T
		{"NOT (s = :banana OR n = :10)", false},           // NOT (T OR T)
		{"((s = :banana))", true},                         // nested parentheses
		{"(s = :banana) and (n > :9) or (missing = :0)", true},
		{"s = :banana\tAND\nn = :10", true}, // any white space
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			cond, err := parseCondition(newExprContext(names, vals), "ConditionExpression", tt.expr)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if got := cond.eval(item); got != tt.want {
				t.Errorf("eval = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestConditionErrors pins the expressions refused before anything is evaluated, and the words
// of the refusal.
func TestConditionErrors(t *testing.T) {
	vals := values{
		":v":    s("v"),
		":w":    s("w"),
		":n":    n("1"),
		":bool": &types.AttributeValueMemberBOOL{Value: true},
		":null": &types.AttributeValueMemberNULL{Value: true},
		":ss":   &types.AttributeValueMemberSS{Value: []string{"x"}},
		":l":    &types.AttributeValueMemberL{},
		":m":    &types.AttributeValueMemberM{},
	}
	names := map[string]string{"#a": "a"}
	tests := []struct {
		name, expr, want string
	}{
		{"empty", "", "expected an attribute or a value"},
		{"blank", "   ", "expected an attribute or a value"},
		{"undefined value", "a = :nope", "An expression attribute value used in expression is not defined; attribute value: :nope"},
		{"undefined name", "#nope = :v", "An expression attribute name used in the document path is not defined; attribute name: #nope"},
		{"undefined name in a function", "attribute_exists(#nope)", "attribute name: #nope"},
		{"undefined value in IN", "a IN (:v, :nope)", "attribute value: :nope"},
		{"bare colon", "a = :", `syntax error; token: ":"`},
		{"bare hash", "# = :v", `syntax error; token: "#"`},
		{"reserved word", "status = :v", "Attribute name is a reserved keyword; reserved keyword: status"},
		{"reserved word in any case", "Status = :v", "reserved keyword: Status"},
		{"reserved word in a function", "attribute_exists(ttl)", "reserved keyword: ttl"},
		{"unbalanced open", "(a = :v", `expected ")"`},
		{"unbalanced open nested", "((a = :v) OR a = :w", `expected ")"`},
		{"unbalanced close", "a = :v)", `unexpected ")"`},
		{"empty parentheses", "()", "expected an attribute or a value"},
		{"trailing operand", "a = :v :w", `unexpected ":w"`},
		{"trailing word", "a = :v b", `unexpected "b"`},
		{"trailing AND", "a = :v AND", "expected an attribute or a value"},
		{"leading OR", "OR a = :v", "expected a comparator"},
		{"missing comparator", "a :v", "expected a comparator"},
		{"operand alone", "a", "expected a comparator"},
		{"double comparator", "a = = :v", "expected an attribute or a value"},
		{"bang equals", "a != :v", `token: "!"`},
		{"double equals", "a == :v", "expected an attribute or a value"},
		{"BETWEEN without AND", "a BETWEEN :v OR :w", "BETWEEN without AND"},
		{"BETWEEN one bound", "a BETWEEN :v", "BETWEEN without AND"},
		{"IN without parentheses", "a IN :v", `expected "("`},
		{"IN empty", "a IN ()", "expected an attribute or a value"},
		{"IN unclosed", "a IN (:v, :w", `expected ")"`},
		{"IN trailing comma", "a IN (:v,)", "expected an attribute or a value"},
		{"unknown function", "no_such_function(a)", "function no_such_function is not supported"},
		{"function unclosed", "attribute_exists(a", `expected ","`},
		{"function without arguments", "attribute_exists()", "attribute_exists takes one attribute name"},
		{"attribute_exists of a value", "attribute_exists(:v)", "attribute_exists takes one attribute name"},
		{"attribute_not_exists of two", "attribute_not_exists(a, b)", "attribute_not_exists takes one attribute name"},
		{"begins_with of one", "begins_with(a)", "begins_with takes two operands"},
		{"begins_with of three", "begins_with(a, :v, :w)", "begins_with takes two operands"},
		{"function without comma", "begins_with(a :v)", `expected ","`},
		{"function as an operand", "a = begins_with(a, :v)", `unexpected "("`},
		{"less than a BOOL", "a < :bool", "Incorrect operand type for operator or function; operator or function: <, operand type: BOOL"},
		{"greater than a NULL", "a > :null", "operator or function: >, operand type: NULL"},
		{"at most a set", "a <= :ss", "operator or function: <=, operand type: SS"},
		{"at least a list", "a >= :l", "operator or function: >=, operand type: L"},
		{"BETWEEN maps", "a BETWEEN :m AND :v", "operator or function: BETWEEN, operand type: M"},
		{"BETWEEN to a BOOL", "a BETWEEN :v AND :bool", "operator or function: BETWEEN, operand type: BOOL"},

		// Beyond the fake's subset: refused, never misread.
		{"nested map path", "a.b = :v", "nested document paths are not supported by the fake"},
		{"list index", "a[0] = :v", "nested document paths are not supported by the fake"},
		{"attribute_type", "attribute_type(a, :v)", "function attribute_type is not supported by the fake"},
		{"contains", "contains(a, :v)", "function contains is not supported by the fake"},
		{"size", "size(a) > :n", "function size is not supported by the fake"},
		{"arithmetic", "a = :n + :n", `token: "+"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseCondition(newExprContext(names, vals), "ConditionExpression", tt.expr)
			if err == nil {
				t.Fatalf("parse %q: no error, want one saying %q", tt.expr, tt.want)
			}
			msg := validationMessage(t, err)
			if !strings.HasPrefix(msg, "Invalid ConditionExpression: ") || !strings.Contains(msg, tt.want) {
				t.Errorf("parse %q: %q, want an Invalid ConditionExpression saying %q", tt.expr, msg, tt.want)
			}
		})
	}
}

// TestExpressionAttributesAllUsed pins DynamoDB's rule that every name and value a request
// defines is used by one of its expressions.
func TestExpressionAttributesAllUsed(t *testing.T) {
	tests := []struct {
		name   string
		exprs  []string
		names  map[string]string
		values values
		want   string // "" for no error
	}{
		{"all used", []string{"#a = :v"}, map[string]string{"#a": "a"}, values{":v": s("v")}, ""},
		{"none defined", []string{"a = b"}, nil, nil, ""},
		{"used twice", []string{"#a = :v OR #a <> :v"}, map[string]string{"#a": "a"}, values{":v": s("v")}, ""},
		{"used across expressions", []string{"#a = :v", "#b = :w"}, map[string]string{"#a": "a", "#b": "b"}, values{":v": s("v"), ":w": s("w")}, ""},
		{"unused value", []string{"a = :v"}, nil, values{":v": s("v"), ":x": s("x"), ":y": s("y")},
			"Value provided in ExpressionAttributeValues unused in expressions: keys: {:x, :y}"},
		{"unused name", []string{"#a = :v"}, map[string]string{"#a": "a", "#b": "b"}, values{":v": s("v")},
			"Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"},
		{"unused names reported before values", []string{"a = b"}, map[string]string{"#b": "b"}, values{":x": s("x")},
			"Value provided in ExpressionAttributeNames unused in expressions: keys: {#b}"},
		{"a value used only in an expression that failed to parse", []string{"a = :v AND"}, nil, values{":v": s("v")}, "parse"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := newExprContext(tt.names, tt.values)
			for _, e := range tt.exprs {
				if _, err := parseCondition(ctx, "ConditionExpression", e); err != nil {
					if tt.want != "parse" {
						t.Fatalf("parse %q: %v", e, err)
					}
					return
				}
			}
			if tt.want == "parse" {
				t.Fatal("parsed, want a syntax error")
			}
			err := ctx.checkAllUsed()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("checkAllUsed: %v", err)
				}
				return
			}
			if msg := validationMessage(t, err); msg != tt.want {
				t.Errorf("checkAllUsed = %q, want %q", msg, tt.want)
			}
		})
	}
}
