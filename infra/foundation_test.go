package infra

import (
	"encoding/json"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"
)

func foundationTemplate(t *testing.T) assertions.Template {
	t.Helper()
	stack := NewFoundationStack(testApp(t), "Test", &FoundationStackProps{})
	return assertions.Template_FromStack(stack.Stack, nil)
}

func TestFoundationHasKeyBusAndArchive(t *testing.T) {
	tpl := foundationTemplate(t)

	tpl.ResourceCountIs(jsii.String("AWS::KMS::Key"), jsii.Number(1))
	tpl.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{"EnableKeyRotation": true})
	tpl.HasResource(jsii.String("AWS::KMS::Key"), map[string]any{"DeletionPolicy": "Retain"})

	tpl.ResourceCountIs(jsii.String("AWS::Events::EventBus"), jsii.Number(1))
	tpl.HasResourceProperties(jsii.String("AWS::Events::EventBus"), map[string]any{
		"KmsKeyIdentifier": assertions.Match_AnyValue(),
	})

	tpl.ResourceCountIs(jsii.String("AWS::Events::Archive"), jsii.Number(1))
	tpl.HasResourceProperties(jsii.String("AWS::Events::Archive"), map[string]any{
		"EventPattern":     map[string]any{"source": []any{"lanyard"}},
		"RetentionDays":    ArchiveRetentionDays,
		"SourceArn":        map[string]any{"Fn::GetAtt": []any{assertions.Match_StringLikeRegexp(jsii.String("^Bus")), "Arn"}},
		"KmsKeyIdentifier": assertions.Match_AnyValue(),
	})
}

// No statement of the key policy may grant kms:* (or any kms:<wildcard>) to anyone but the
// account root, and none may name the anonymous principal.
func TestKeyPolicyGrantsKmsStarToRootOnly(t *testing.T) {
	tpl := foundationTemplate(t)
	keys := tpl.FindResources(jsii.String("AWS::KMS::Key"), nil)
	if keys == nil || len(*keys) != 1 {
		t.Fatalf("want one key, got %v", keys)
	}
	for _, res := range *keys {
		raw, _ := json.Marshal(res)
		var key struct {
			Properties struct {
				KeyPolicy struct {
					Statement []struct {
						Effect    string
						Action    any
						Principal any
					}
				}
			}
		}
		if err := json.Unmarshal(raw, &key); err != nil {
			t.Fatal(err)
		}
		stmts := key.Properties.KeyPolicy.Statement
		if len(stmts) == 0 {
			t.Fatal("key has no policy statements")
		}
		sawRoot := false
		for i, s := range stmts {
			p, _ := json.Marshal(s.Principal)
			if string(p) == `"*"` || string(p) == `{"AWS":"*"}` {
				t.Errorf("statement %d grants to everyone: %s", i, p)
			}
			if s.Effect != "Allow" || !grantsKmsWildcard(s.Action) {
				continue
			}
			if !isAccountRoot(s.Principal) {
				t.Errorf("statement %d grants a kms wildcard to %s", i, p)
			}
			sawRoot = true
		}
		if !sawRoot {
			t.Error("the account root has no kms:* (the key would be unmanageable)")
		}
	}
}

func grantsKmsWildcard(action any) bool {
	var actions []string
	switch a := action.(type) {
	case string:
		actions = []string{a}
	case []any:
		for _, x := range a {
			if s, ok := x.(string); ok {
				actions = append(actions, s)
			}
		}
	}
	for _, a := range actions {
		if a == "*" || a == "kms:*" {
			return true
		}
	}
	return false
}

// isAccountRoot recognises CDK's rendering of arn:${Partition}:iam::${AccountId}:root.
func isAccountRoot(principal any) bool {
	b, _ := json.Marshal(principal)
	want := `{"AWS":{"Fn::Join":["",["arn:",{"Ref":"AWS::Partition"},":iam::",{"Ref":"AWS::AccountId"},":root"]]}}`
	return string(b) == want
}
