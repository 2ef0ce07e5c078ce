package dynamodbtest

import (
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
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
		"blank": s(""),
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
	names := map[string]string{"#s": "s", "#n": "n", "#status": "status", "#dash": "dash", "#absent": "absent"}

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
		{"blank = :empty", true},
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
		{"absent = :banana", false},
		{"absent <> :banana", true},
		{"absent < :banana", false},
		{"absent >= :banana", false},
		{"#absent BETWEEN :apple AND :cherry", false},
		{"absent IN (:banana, :apple)", false},

		// BETWEEN, bounds included.
		{"n BETWEEN :9 AND :11", true},
		{"n BETWEEN :10 AND :ten", true},
		{"n BETWEEN :11 AND :100", false},
		{"n BETWEEN :minus4 AND :9", false},
		{"s BETWEEN :apple AND :cherry", true},
		{"s BETWEEN :banana AND :banana", true},
		{"s BETWEEN :Banana AND :apple", false},
		{"b BETWEEN :b01 AND :b02", true},
		{"n between :9 and :11", true}, // keywords in any case

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
		{"attribute_exists(#absent)", false},
		{"attribute_exists(nul)", true}, // a NULL attribute exists
		{"attribute_exists(blank)", true},
		{"attribute_not_exists(absent)", true},
		{"attribute_not_exists(#s)", false},
		{"begins_with(s, :ban)", true},
		{"begins_with(s, :banana)", true},
		{"begins_with(s, :empty)", true},
		{"begins_with(s, :nana)", false},
		{"begins_with(s, :Banana)", false},
		{"begins_with(b, :b01)", true},
		{"begins_with(b, :b02)", false},
		{"begins_with(absent, :ban)", false},
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
		{"(s = :banana) and (n > :9) or (absent = :0)", true},
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

// TestConditionDeviations pins where the fake answers differently from DynamoDB, which refuses
// these expressions with a ValidationException before evaluating them; the fake parses them and
// the condition is false. No code in the project writes such an expression.
func TestConditionDeviations(t *testing.T) {
	item := Item{"a": s("m"), "n": n("10")}
	vals := values{":lo": n("9"), ":hi": n("11"), ":s": s("x"), ":bool": &types.AttributeValueMemberBOOL{Value: true}, ":n": n("1"), ":v": s("m")}
	tests := []struct {
		expr       string
		dynamoDB   string // what DynamoDB answers instead
		fakeResult bool
	}{
		{"n BETWEEN :hi AND :lo", "the BETWEEN operator requires upper bound to be greater than or equal to lower bound", false},
		{"n BETWEEN :s AND :hi", "BETWEEN bounds of two types", false},
		{":bool < a", "Incorrect operand type for operator or function (only the right operand is checked by the fake)", false},
		{"begins_with(a, :n)", "Incorrect operand type for operator or function; operator or function: begins_with, operand type: N", false},
		{"empty = :v", "Attribute name is a reserved keyword; reserved keyword: empty (the fake knows only a few reserved words)", false},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			cond, err := parseCondition(newExprContext(nil, vals), "ConditionExpression", tt.expr)
			if err != nil {
				t.Fatalf("parse: %v (DynamoDB refuses it too: %s; the fake now matches, move the case to TestConditionErrors)", err, tt.dynamoDB)
			}
			if got := cond.eval(item); got != tt.fakeResult {
				t.Errorf("eval = %v, want %v", got, tt.fakeResult)
			}
		})
	}
}

// TestUpdateApply pins what SET and REMOVE do to an item, through UpdateItem.
func TestUpdateApply(t *testing.T) {
	before := Item{"pk": s("k"), "a": s("a0"), "b": n("7"), "c": s("c0")}
	tests := []struct {
		name   string
		start  Item // nil: no item yet
		expr   string
		names  map[string]string
		values values
		want   Item
	}{
		{"SET one, creating the item", nil, "SET a = :v", nil, values{":v": s("x")},
			Item{"pk": s("k"), "a": s("x")}},
		{"SET one", before, "SET a = :v", nil, values{":v": s("x")},
			Item{"pk": s("k"), "a": s("x"), "b": n("7"), "c": s("c0")}},
		{"SET several", before, "SET a = :v, d = :w,e=:v", nil, values{":v": s("x"), ":w": n("1")},
			Item{"pk": s("k"), "a": s("x"), "b": n("7"), "c": s("c0"), "d": n("1"), "e": s("x")}},
		{"SET from another attribute", before, "SET d = b", nil, nil,
			Item{"pk": s("k"), "a": s("a0"), "b": n("7"), "c": s("c0"), "d": n("7")}},
		{"SET reads the item before the update", before, "SET a = c, c = a", nil, nil,
			Item{"pk": s("k"), "a": s("c0"), "b": n("7"), "c": s("a0")}},
		{"SET through names", before, "SET #status = :v", map[string]string{"#status": "status"}, values{":v": s("x")},
			Item{"pk": s("k"), "a": s("a0"), "b": n("7"), "c": s("c0"), "status": s("x")}},
		{"SET a map and a list", nil, "SET m = :m, l = :l", nil,
			values{":m": &types.AttributeValueMemberM{Value: Item{"k": s("v")}}, ":l": &types.AttributeValueMemberL{Value: []types.AttributeValue{n("1")}}},
			Item{"pk": s("k"), "m": &types.AttributeValueMemberM{Value: Item{"k": s("v")}}, "l": &types.AttributeValueMemberL{Value: []types.AttributeValue{n("1")}}}},
		{"REMOVE one", before, "REMOVE a", nil, nil,
			Item{"pk": s("k"), "b": n("7"), "c": s("c0")}},
		{"REMOVE several", before, "REMOVE a, #b", map[string]string{"#b": "b"}, nil,
			Item{"pk": s("k"), "c": s("c0")}},
		{"REMOVE what is not there", before, "REMOVE zz", nil, nil, before},
		{"SET then REMOVE", before, "SET a = :v REMOVE b", nil, values{":v": s("x")},
			Item{"pk": s("k"), "a": s("x"), "c": s("c0")}},
		{"REMOVE then SET", before, "REMOVE b SET a = :v, d = :v", nil, values{":v": s("x")},
			Item{"pk": s("k"), "a": s("x"), "c": s("c0"), "d": s("x")}},
		{"keywords in any case", before, "set a = :v remove b", nil, values{":v": s("x")},
			Item{"pk": s("k"), "a": s("x"), "c": s("c0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := NewDynamoDB()
			db.CreateTable("t", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, nil)
			if tt.start != nil {
				if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("t"), Item: tt.start}); err != nil {
					t.Fatal(err)
				}
			}
			_, err := db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
				TableName: aws.String("t"), Key: Item{"pk": s("k")}, UpdateExpression: aws.String(tt.expr),
				ExpressionAttributeNames: tt.names, ExpressionAttributeValues: tt.values,
			})
			if err != nil {
				t.Fatalf("UpdateItem: %v", err)
			}
			items := db.Items("t")
			if len(items) != 1 || !equal(&types.AttributeValueMemberM{Value: items[0]}, &types.AttributeValueMemberM{Value: tt.want}) {
				t.Errorf("items = %v, want [%v]", items, tt.want)
			}
		})
	}
}

// TestUpdateErrors pins the update expressions UpdateItem refuses, leaving the item as it was.
func TestUpdateErrors(t *testing.T) {
	vals := values{":v": s("x"), ":n": n("1"), ":ss": &types.AttributeValueMemberSS{Value: []string{"x"}}, ":l": &types.AttributeValueMemberL{}}
	tests := []struct {
		name, expr string
		values     values // vals when nil
		want       string
	}{
		{"empty", "", nil, "Invalid UpdateExpression: the expression is empty"},
		{"clause alone", "SET", nil, "expected an attribute or a value"},
		{"no =", "SET a :v", nil, `expected "="`},
		{"no value", "SET a =", nil, "expected an attribute or a value"},
		{"trailing comma", "SET a = :v,", nil, "expected an attribute or a value"},
		{"trailing operand", "SET a = :v :v", nil, `unexpected ":v" after SET a`},
		{"trailing word", "SET a = :v b", nil, `unexpected "b" after SET a`},
		{"REMOVE with a value", "REMOVE a = :v", values{}, `"=" is not SET or REMOVE`},
		{"unknown clause", "UPDATE a = :v", nil, `"UPDATE" is not SET or REMOVE`},
		{"SET twice", "SET a = :v SET b = :v", nil, `The "SET" section can only be used once in an update expression`},
		{"REMOVE twice", "REMOVE a REMOVE b", values{}, `The "REMOVE" section can only be used once in an update expression`},
		{"one path set twice", "SET a = :v, a = :v", nil, "Two document paths overlap with each other"},
		{"one path set and removed", "SET a = :v REMOVE a", nil, "Two document paths overlap with each other"},
		{"one path removed twice", "REMOVE a, a", values{}, "Two document paths overlap with each other"},
		{"SET a value", "SET :v = :v", nil, "SET needs an attribute name"},
		{"undefined value", "SET a = :nope", values{}, "An expression attribute value used in expression is not defined; attribute value: :nope"},
		{"undefined name", "SET #nope = :v", nil, "An expression attribute name used in the document path is not defined; attribute name: #nope"},
		{"reserved word", "SET a = :v REMOVE ttl", nil, "Attribute name is a reserved keyword; reserved keyword: ttl"},
		{"unused value", "SET a = :v", values{":v": s("x"), ":w": s("y")}, "Value provided in ExpressionAttributeValues unused in expressions: keys: {:w}"},
		{"SET the partition key", "SET pk = :v", nil, "Cannot update attribute pk. This attribute is part of the key"},
		{"REMOVE the partition key", "REMOVE pk", values{}, "Cannot update attribute pk. This attribute is part of the key"},
		{"SET an empty set", "SET a = :empty", values{":empty": &types.AttributeValueMemberSS{}}, "an empty set"},
		{"SET a malformed number", "SET a = :bad", values{":bad": n("1x")}, `"1x" is not a number`},
		{"SET from a missing attribute", "SET a = absent", values{}, "The provided expression refers to an attribute that does not exist in the item"},

		// Beyond the fake's subset: refused, never misread.
		{"ADD", "ADD a :n", values{":n": n("1")}, "ADD and DELETE are not supported by the fake"},
		{"DELETE", "DELETE a :ss", values{":ss": &types.AttributeValueMemberSS{Value: []string{"x"}}}, "ADD and DELETE are not supported by the fake"},
		{"ADD after SET", "SET a = :v ADD b :n", values{":v": s("x"), ":n": n("1")}, "ADD and DELETE are not supported by the fake"},
		{"if_not_exists", "SET a = if_not_exists(a, :v)", nil, "functions in SET are not supported by the fake"},
		{"list_append", "SET a = list_append(a, :l)", nil, "functions in SET are not supported by the fake"},
		{"addition", "SET a = a + :n", nil, `token: "+"`},
		{"subtraction", "SET a = a - :n", nil, `token: "-"`},
		{"nested map path", "SET a.b = :v", nil, "nested document paths are not supported by the fake"},
		{"list index", "REMOVE a[0]", values{}, "nested document paths are not supported by the fake"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := NewDynamoDB()
			db.CreateTable("t", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, nil)
			before := Item{"pk": s("k"), "a": s("a0"), "b": n("7")}
			if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String("t"), Item: before}); err != nil {
				t.Fatal(err)
			}
			v := tt.values
			if v == nil {
				// Only the values the expression names, so "unused" is not the complaint.
				v = usedValues(vals, tt.expr)
			}
			_, err := db.UpdateItem(t.Context(), &dynamodb.UpdateItemInput{
				TableName: aws.String("t"), Key: Item{"pk": s("k")}, UpdateExpression: aws.String(tt.expr),
				ExpressionAttributeValues: v,
			})
			if err == nil {
				t.Fatalf("UpdateItem %q: no error, want one saying %q", tt.expr, tt.want)
			}
			if msg := validationMessage(t, err); !strings.Contains(msg, tt.want) {
				t.Errorf("UpdateItem %q: %q, want a ValidationException saying %q", tt.expr, msg, tt.want)
			}
			if items := db.Items("t"); len(items) != 1 || !equal(&types.AttributeValueMemberM{Value: items[0]}, &types.AttributeValueMemberM{Value: before}) {
				t.Errorf("items = %v, want [%v] untouched", items, before)
			}
			if c := db.Changes("t"); len(c) != 1 {
				t.Errorf("changes = %v, want the put alone", c)
			}
		})
	}
}

// TestKeyCondition pins the key condition expressions Query takes, and the order of what it
// answers (sort keys by value).
func TestKeyCondition(t *testing.T) {
	db := NewDynamoDB()
	db.CreateTable("n", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, &KeyAttr{Name: "sk", Type: types.ScalarAttributeTypeN})
	db.CreateTable("s", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, &KeyAttr{Name: "sk", Type: types.ScalarAttributeTypeS})
	db.CreateTable("b", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, &KeyAttr{Name: "sk", Type: types.ScalarAttributeTypeB})
	db.CreateTable("p", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, nil)
	put := func(table string, item Item) {
		t.Helper()
		if _, err := db.PutItem(t.Context(), &dynamodb.PutItemInput{TableName: aws.String(table), Item: item}); err != nil {
			t.Fatal(err)
		}
	}
	for _, sk := range []string{"100", "9", "1", "10", "2", "-1.5"} {
		put("n", Item{"pk": s("p"), "sk": n(sk), "extra": n("9")})
	}
	put("n", Item{"pk": s("q"), "sk": n("5")})
	for _, sk := range []string{"ab", "b", "a", "abc", "B", "a#1"} {
		put("s", Item{"pk": s("p"), "sk": s(sk)})
	}
	for _, sk := range [][]byte{{0x01}, {0xff}, {0x01, 0x00}, {0x02}} {
		put("b", Item{"pk": s("p"), "sk": b(sk...)})
	}
	put("p", Item{"pk": s("p")})
	put("p", Item{"pk": s("q")})

	vals := values{
		":p": s("p"), ":q": s("q"), ":none": s("none"),
		":2": n("2"), ":9": n("9"), ":10": n("10"), ":ten": n("10.0"), ":100": n("100"), ":0": n("0"),
		":a": s("a"), ":ab": s("ab"), ":b": s("b"), ":hash": s("a#"),
		":b01": b(0x01), ":b02": b(0x02),
	}
	tests := []struct {
		name, table, expr string
		names             map[string]string
		forward           *bool
		want              []string // the sort keys (the partition keys for table p) answered, in order
	}{
		{"partition alone", "n", "pk = :p", nil, nil, []string{"-1.5", "1", "2", "9", "10", "100"}},
		{"partition alone, backwards", "n", "pk = :p", nil, aws.Bool(false), []string{"100", "10", "9", "2", "1", "-1.5"}},
		{"another partition", "n", "pk = :q", nil, nil, []string{"5"}},
		{"an empty partition", "n", "pk = :none", nil, nil, nil},
		{"no sort key", "p", "pk = :q", nil, nil, []string{"q"}},
		{"sort key =", "n", "pk = :p AND sk = :ten", nil, nil, []string{"10"}},
		{"sort key <", "n", "pk = :p AND sk < :10", nil, nil, []string{"-1.5", "1", "2", "9"}},
		{"sort key <=", "n", "pk = :p AND sk <= :10", nil, nil, []string{"-1.5", "1", "2", "9", "10"}},
		{"sort key >", "n", "pk = :p AND sk > :9", nil, nil, []string{"10", "100"}},
		{"sort key >=", "n", "pk = :p AND sk >= :9", nil, nil, []string{"9", "10", "100"}},
		{"sort key > 0", "n", "pk = :p AND sk > :0", nil, nil, []string{"1", "2", "9", "10", "100"}},
		{"sort key BETWEEN", "n", "pk = :p AND sk BETWEEN :2 AND :10", nil, nil, []string{"2", "9", "10"}},
		{"sort key first", "n", "sk BETWEEN :2 AND :ten AND pk = :p", nil, nil, []string{"2", "9", "10"}},
		{"parentheses", "n", "(pk = :p) AND (sk > :9)", nil, nil, []string{"10", "100"}},
		{"names", "n", "#pk = :p and #sk > :9", map[string]string{"#pk": "pk", "#sk": "sk"}, nil, []string{"10", "100"}},
		{"strings in byte order", "s", "pk = :p", nil, nil, []string{"B", "a", "a#1", "ab", "abc", "b"}},
		{"begins_with", "s", "pk = :p AND begins_with(sk, :a)", nil, nil, []string{"a", "a#1", "ab", "abc"}},
		{"begins_with, backwards", "s", "pk = :p AND begins_with(sk, :ab)", nil, aws.Bool(false), []string{"abc", "ab"}},
		{"begins_with a symbol", "s", "pk = :p AND begins_with(sk, :hash)", nil, nil, []string{"a#1"}},
		{"strings BETWEEN", "s", "pk = :p AND sk BETWEEN :a AND :ab", nil, nil, []string{"a", "a#1", "ab"}},
		{"strings >", "s", "pk = :p AND sk > :ab", nil, nil, []string{"abc", "b"}},
		{"binary in unsigned byte order", "b", "pk = :p", nil, nil, []string{"01", "0100", "02", "ff"}},
		{"binary begins_with", "b", "pk = :p AND begins_with(sk, :b01)", nil, nil, []string{"01", "0100"}},
		{"binary <", "b", "pk = :p AND sk < :b02", nil, nil, []string{"01", "0100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := &dynamodb.QueryInput{TableName: aws.String(tt.table), KeyConditionExpression: aws.String(tt.expr),
				ExpressionAttributeNames: tt.names, ExpressionAttributeValues: usedValues(vals, tt.expr), ScanIndexForward: tt.forward}
			out, err := db.Query(t.Context(), in)
			if err != nil {
				t.Fatalf("Query %q: %v", tt.expr, err)
			}
			var got []string
			for _, it := range out.Items {
				k := it["sk"]
				if tt.table == "p" {
					k = it["pk"]
				}
				switch v := k.(type) {
				case *types.AttributeValueMemberS:
					got = append(got, v.Value)
				case *types.AttributeValueMemberN:
					got = append(got, v.Value)
				case *types.AttributeValueMemberB:
					got = append(got, hex.EncodeToString(v.Value))
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Query %q = %q, want %q", tt.expr, got, tt.want)
			}
		})
	}

	refused := []struct {
		name, expr, want string
	}{
		{"sort key alone", "sk > :9", "Query key condition not supported"},
		{"partition key not by =", "pk > :p", "Query key condition not supported"},
		{"partition key <>", "pk <> :p", "Query key condition not supported"},
		{"partition key IN", "pk IN (:p, :q)", "Query key condition not supported"},
		{"partition key against an attribute", "pk = sk", "Query key condition not supported"},
		{"value first", ":p = pk", "Query key condition not supported"},
		{"OR", "pk = :p OR sk > :9", "Query key condition not supported"},
		{"NOT", "pk = :p AND NOT sk > :9", "Query key condition not supported"},
		{"sort key <>", "pk = :p AND sk <> :9", "Query key condition not supported"},
		{"sort key IN", "pk = :p AND sk IN (:9, :10)", "Query key condition not supported"},
		{"two sort key conditions", "pk = :p AND sk > :2 AND sk < :100", "Query key condition not supported"},
		{"partition key twice", "pk = :p AND pk = :p", "Query key condition not supported"},
		{"a non-key attribute", "pk = :p AND extra = :9", "Query key condition not supported"},
		{"attribute_exists", "pk = :p AND attribute_exists(sk)", "Query key condition not supported"},
		{"sort key against an attribute", "pk = :p AND sk > extra", "Query key condition not supported"},
		{"BETWEEN an attribute", "pk = :p AND sk BETWEEN :2 AND extra", "Query key condition not supported"},
		{"trailing AND", "pk = :p AND", "Invalid KeyConditionExpression: syntax error; expected an attribute or a value"},
		{"unbalanced", "(pk = :p", `Invalid KeyConditionExpression: syntax error; expected ")"`},
		{"undefined value", "pk = :nope", "Invalid KeyConditionExpression: An expression attribute value used in expression is not defined; attribute value: :nope"},
		{"unused value", "pk = :p", "Value provided in ExpressionAttributeValues unused in expressions: keys: {:q}"},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			v := usedValues(vals, tt.expr)
			if tt.name == "unused value" {
				v[":q"] = vals[":q"]
			}
			_, err := db.Query(t.Context(), &dynamodb.QueryInput{TableName: aws.String("n"), KeyConditionExpression: aws.String(tt.expr), ExpressionAttributeValues: v})
			if err == nil {
				t.Fatalf("Query %q: no error, want one saying %q", tt.expr, tt.want)
			}
			if msg := validationMessage(t, err); !strings.Contains(msg, tt.want) {
				t.Errorf("Query %q: %q, want a ValidationException saying %q", tt.expr, msg, tt.want)
			}
		})
	}
}

// usedValues returns the values of vals whose placeholders expr names.
func usedValues(vals values, expr string) values {
	out := values{}
	notWord := func(r rune) bool { return r != ':' && r != '_' && !unicode.IsLetter(r) && !unicode.IsDigit(r) }
	for _, tok := range strings.FieldsFunc(expr, notWord) {
		if v, ok := vals[tok]; ok {
			out[tok] = v
		}
	}
	return out
}

// TestProjectionRefused pins that the fake refuses projection expressions rather than ignore them.
func TestProjectionRefused(t *testing.T) {
	db := NewDynamoDB()
	db.CreateTable("t", KeyAttr{Name: "pk", Type: types.ScalarAttributeTypeS}, nil)
	_, err := db.GetItem(t.Context(), &dynamodb.GetItemInput{TableName: aws.String("t"), Key: Item{"pk": s("k")}, ProjectionExpression: aws.String("a, #b"),
		ExpressionAttributeNames: map[string]string{"#b": "b"}})
	if err == nil || !strings.Contains(err.Error(), "projection is not supported by the fake") {
		t.Errorf("GetItem with a projection: %v, want an error saying the fake does not support it", err)
	}
	_, err = db.Query(t.Context(), &dynamodb.QueryInput{TableName: aws.String("t"), KeyConditionExpression: aws.String("pk = :k"),
		ExpressionAttributeValues: values{":k": s("k")}, ProjectionExpression: aws.String("a")})
	if err == nil || !strings.Contains(err.Error(), "not supported by the fake") {
		t.Errorf("Query with a projection: %v, want an error saying the fake does not support it", err)
	}
}
