package infra

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/jsii-runtime-go"

	"github.com/lanyardhq/lanyard/shared/domain/auditquery"
	"github.com/lanyardhq/lanyard/shared/domain/credential"
	"github.com/lanyardhq/lanyard/shared/domain/policy"
	"github.com/lanyardhq/lanyard/topology"
)

// auditTopology is production's declaration with an audit log, one function that writes to it
// and one that reads it.
func auditTopology() (top *topology.Topology, writer, reader string) {
	top = topology.Lanyard()
	top.Functions = slices.Clone(top.Functions)
	for i := range 2 {
		env := maps.Clone(top.Functions[i].Env)
		if env == nil {
			env = map[string]topology.Value{}
		}
		top.Functions[i].Env = env
	}
	writer, reader = top.Functions[0].Name, top.Functions[1].Name
	top.Functions[0].Env["AUDIT_LOG"] = topology.AuditLogName(topology.AccessReadWrite)
	top.Functions[1].Env["AUDIT_LOG"] = topology.AuditLogName(topology.AccessRead)
	top.AuditLog = &topology.AuditLog{Writer: writer}
	return top, writer, reader
}

func auditTemplates(t *testing.T) synthesized {
	t.Helper()
	top, _, _ := auditTopology()
	return synthesize(t, "audit", top)
}

// The audit log group: /lanyard/audit, encrypted with the stack's key, kept for the policy's
// retention, retained when the stack goes.
func TestAuditLogGroup(t *testing.T) {
	s := auditTemplates(t)
	pol, err := policy.Default()
	if err != nil {
		t.Fatal(err)
	}
	check(t, func() {
		s.foundation.HasResource(jsii.String("AWS::Logs::LogGroup"), map[string]any{
			"Properties": map[string]any{
				"LogGroupName":    AuditLogGroupName,
				"RetentionInDays": pol.Audit.RetentionDays,
				"KmsKeyId":        map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Key")), "Arn"}},
			},
			"DeletionPolicy":      "Retain",
			"UpdateReplacePolicy": "Retain",
		})
	})
	if AuditLogGroupName != "/lanyard/audit" {
		t.Errorf("AuditLogGroupName = %q", AuditLogGroupName)
	}
}

// The key policy lets the region's CloudWatch Logs use the key for the audit log group only.
func TestAuditLogKeyPolicy(t *testing.T) {
	s := auditTemplates(t)
	groupARN := map[string]any{"Fn::Join": []any{"", []any{
		"arn:", map[string]any{"Ref": "AWS::Partition"}, ":logs:", map[string]any{"Ref": "AWS::Region"}, ":",
		map[string]any{"Ref": "AWS::AccountId"}, ":log-group:" + AuditLogGroupName,
	}}}
	check(t, func() {
		s.foundation.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
			"KeyPolicy": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{map[string]any{
				"Sid":       "AuditLogGroup",
				"Effect":    "Allow",
				"Principal": map[string]any{"Service": map[string]any{"Fn::Join": []any{"", []any{"logs.", map[string]any{"Ref": "AWS::Region"}, ".amazonaws.com"}}}},
				"Action":    sorted(AuditLogKeyActions),
				"Resource":  "*",
				"Condition": map[string]any{"ArnEquals": map[string]any{"kms:EncryptionContext:aws:logs:arn": groupARN}},
			}})},
		})
	})
	// The group waits for the key (and so for its policy).
	groups := s.foundation.FindResources(jsii.String("AWS::Logs::LogGroup"), nil)
	for _, g := range *groups {
		b, _ := json.Marshal(g)
		if !regexp.MustCompile(`"DependsOn":\["Key[0-9A-F]+"\]`).Match(b) {
			t.Errorf("the audit log group does not depend on the key: %s", b)
		}
	}
}

// cloudWatchRegex is what a CloudWatch Logs custom data identifier's regex may hold: at most 200
// characters of letters, digits, the symbols _ # = @ / ; , - and space, and the reserved
// characters ^ $ ? [ ] { } | \ * + . (no parenthesis).
var cloudWatchRegex = regexp.MustCompile(`^[a-zA-Z0-9_#=@/;, \-^$?\[\]{}|\\*+.]{1,200}$`)

// The account's data protection policy audits and masks, in every log group, whatever matches
// the key format's scanner pattern.
func TestKeyDataProtectionPolicy(t *testing.T) {
	s := auditTemplates(t)
	policies := s.foundation.FindResources(jsii.String("AWS::Logs::AccountPolicy"), nil)
	if len(*policies) != 1 {
		t.Fatalf("want one account policy, got %d", len(*policies))
	}
	for _, p := range *policies {
		b, _ := json.Marshal(p)
		var res struct {
			Properties struct{ PolicyType, Scope, PolicyDocument string }
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		if res.Properties.PolicyType != "DATA_PROTECTION_POLICY" || res.Properties.Scope != "ALL" {
			t.Errorf("account policy type %q scope %q", res.Properties.PolicyType, res.Properties.Scope)
		}
		var doc struct {
			Version       string
			Configuration struct {
				CustomDataIdentifier []struct{ Name, Regex string }
			}
			Statement []struct {
				DataIdentifier []string
				Operation      map[string]map[string]any
			}
		}
		if err := json.Unmarshal([]byte(res.Properties.PolicyDocument), &doc); err != nil {
			t.Fatalf("policy document: %v", err)
		}
		cdi := doc.Configuration.CustomDataIdentifier
		if doc.Version != "2021-06-01" || len(cdi) != 1 || cdi[0].Name != KeyDataIdentifier {
			t.Fatalf("policy document: %s", res.Properties.PolicyDocument)
		}
		if cdi[0].Regex != credential.ScannerPattern {
			t.Errorf("custom data identifier regex %q, want credential.ScannerPattern %q", cdi[0].Regex, credential.ScannerPattern)
		}
		if !cloudWatchRegex.MatchString(cdi[0].Regex) {
			t.Errorf("regex %q holds a character CloudWatch Logs refuses, or is over 200 characters", cdi[0].Regex)
		}
		ops := map[string]bool{}
		for _, st := range doc.Statement {
			if !slices.Equal(st.DataIdentifier, []string{KeyDataIdentifier}) {
				t.Errorf("statement on %q", st.DataIdentifier)
			}
			for op := range st.Operation {
				ops[op] = true
			}
		}
		if len(doc.Statement) != 2 || !ops["Audit"] || !ops["Deidentify"] {
			t.Errorf("want an Audit and a Deidentify statement: %s", res.Properties.PolicyDocument)
		}
		if _, ok := doc.Statement[1].Operation["Deidentify"]["MaskConfig"]; !ok {
			t.Errorf("the Deidentify statement has no MaskConfig: %s", res.Properties.PolicyDocument)
		}
	}
	// Keys of every environment, alone and inside a line, are what it matches.
	re := regexp.MustCompile(credential.ScannerPattern)
	for _, env := range []string{"live", "test", "locl"} {
		key := "lnyd_" + env + "_k" + strings.Repeat("a", 20) + "_" + strings.Repeat("Z", 38)
		if re.FindString(`{"msg":"`+key+`"}`) != key {
			t.Errorf("the pattern misses a %s key", env)
		}
	}
}

// Each saved query is a QueryDefinition on the audit log group whose text is auditquery's
// Render of the same query: CDK and the CLI run one text.
func TestSavedQueriesAreAuditqueryText(t *testing.T) {
	s := auditTemplates(t)
	defs := s.foundation.FindResources(jsii.String("AWS::Logs::QueryDefinition"), nil)
	if len(*defs) != len(auditquery.All()) {
		t.Fatalf("%d query definitions, %d saved queries", len(*defs), len(auditquery.All()))
	}
	seen := map[string]bool{}
	for id, d := range *defs {
		b, _ := json.Marshal(d)
		var res struct {
			Properties struct {
				Name, QueryString string
				LogGroupNames     []any
			}
		}
		if err := json.Unmarshal(b, &res); err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(res.Properties.Name, AuditQueryPrefix)
		q, known := auditquery.Named(name)
		if !ok || !known {
			t.Errorf("%s: query definition %q is no saved query", id, res.Properties.Name)
			continue
		}
		seen[name] = true
		if res.Properties.QueryString != q.Render() {
			t.Errorf("query %s: CDK's text\n%s\nauditquery's\n%s", name, res.Properties.QueryString, q.Render())
		}
		lg, _ := json.Marshal(res.Properties.LogGroupNames)
		if !regexp.MustCompile(`^\[\{"Ref":"AuditLogGroup[0-9A-F]+"\}\]$`).Match(lg) {
			t.Errorf("query %s runs on %s, not the audit log group", name, lg)
		}
	}
	if len(seen) != len(auditquery.All()) {
		t.Errorf("queries defined: %v", seen)
	}
}

// The writer may create streams in and put events to the audit log group, the reader may query
// and read it (and stop its queries); neither holds more, and a function of a deployment that
// declares no audit log cannot name one.
func TestAuditLogGrants(t *testing.T) {
	top, writer, reader := auditTopology()
	s := auditTemplates(t)
	for _, e := range excessGrants(top, s.all()...) {
		t.Error(e)
	}
	c, err := newCfn(s.all()...)
	if err != nil {
		t.Fatal(err)
	}
	held := func(fn string) []string {
		ids := c.tagged("AWS::Lambda::Function", TagFunction, fn)
		if len(ids) != 1 {
			t.Fatalf("function %s: %d counterparts", fn, len(ids))
		}
		role, _ := c.targetOf(prop(c.resources[ids[0]], "Role"), "AWS::IAM::Role")
		var out []string
		for _, g := range c.grantsOf(role) {
			if strings.HasPrefix(g.Action, "logs:") && (g.Any || c.resources[g.Resource.ID].Type == "AWS::Logs::LogGroup" && prop(c.resources[g.Resource.ID], "LogGroupName") == AuditLogGroupName) {
				out = append(out, g.Action)
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	if got, want := held(writer), sorted(AuditLogWriteActions); !slices.Equal(got, want) {
		t.Errorf("writer %s holds %q on the audit log, want %q", writer, got, want)
	}
	if got, want := held(reader), sorted(append(slices.Clone(AuditLogReadActions), AuditLogStopActions...)); !slices.Equal(got, want) {
		t.Errorf("reader %s holds %q on the audit log, want %q", reader, got, want)
	}

	top.AuditLog = nil
	if _, err := NewStacks(testApp(t), top, nil, dummyCode(t)); err == nil || !strings.Contains(err.Error(), "no audit log is declared") {
		t.Errorf("a function naming an undeclared audit log: %v", err)
	}
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// Every retention the policy accepts is one the stack can set, and sets; any other is refused.
func TestAuditLogRetentions(t *testing.T) {
	for _, days := range policy.AuditRetentionDays {
		stack := awscdk.NewStack(testApp(t), jsii.String(fmt.Sprintf("Retention%d", days)), nil)
		key := awskms.NewKey(stack, jsii.String("Key"), nil)
		if _, err := NewAuditLog(stack, "AuditLog", &AuditLogProps{Key: key, RetentionDays: days}); err != nil {
			t.Fatalf("%d days: %v", days, err)
		}
		check(t, func() {
			assertions.Template_FromStack(stack, nil).HasResourceProperties(jsii.String("AWS::Logs::LogGroup"), map[string]any{"RetentionInDays": days})
		})
	}
	if len(retentions) != len(policy.AuditRetentionDays) {
		t.Errorf("%d retentions mapped, the policy allows %d", len(retentions), len(policy.AuditRetentionDays))
	}
	stack := awscdk.NewStack(testApp(t), jsii.String("Bad"), nil)
	if _, err := NewAuditLog(stack, "AuditLog", &AuditLogProps{Key: awskms.NewKey(stack, jsii.String("Key"), nil), RetentionDays: 2}); err == nil {
		t.Error("2 days accepted")
	}
}
