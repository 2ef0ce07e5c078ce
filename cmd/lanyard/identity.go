package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/arn"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/spf13/cobra"

	"github.com/lanyardhq/lanyard/shared/features/onboarding"
	"github.com/lanyardhq/lanyard/shared/features/stsproof"
	"github.com/lanyardhq/lanyard/shared/platform/awsconfig"
)

// identityRequestHelp is the long help of `lanyard identity-request`: what a partner reads to
// produce the request with the CLI or with the AWS SDK of their language.
const identityRequestHelp = `identity-request prints a signed STS GetCallerIdentity request that proves which AWS
account and principal you are, for one onboarding request. Send it, unchanged, as
"identityRequest" in that onboarding request's body (POST /v1/partners) instead of an invite
code, with exactly the partner name and scopes it was signed for:

  {"partnerName": "...", "scopes": [...], "identityRequest": <the JSON printed here>}

or print that whole body with --body.

Nothing is sent to Lanyard, and nothing to AWS unless --role-arn asks for a role's session
first: the request is signed with your credentials (the default AWS configuration chain:
AWS_PROFILE, AWS_ACCESS_KEY_ID, SSO, …) and printed. Lanyard sends it to STS itself, to its
own configured STS endpoint only, and learns from STS's answer which account and principal
signed it. It cannot do anything else: GetCallerIdentity needs no permission and changes
nothing. The request is valid for 15 minutes: sign it just before you onboard. It holds your
signature (and, with temporary credentials, your session token) for that time: send it only to
Lanyard.

Sign it as the principal your Lanyard contact agreed with you: Lanyard's allow-list names, for
your account, the roles (or IAM users) that may onboard — typically one role, which you assume
for this (--role-arn, or a profile with role_arn) — and never admits the account's root user.

--server-id is the id of the Lanyard deployment you onboard with (your Lanyard contact gives it
to you; in AWS it reads <account>/<region>/<stack name>). The request is signed over an
X-Lanyard-Server-ID header carrying it, so it is good for that deployment only.
--partner-name and --scope are the partnerName and scopes of the onboarding request: the
request is signed over an X-Lanyard-Request-SHA256 header carrying their digest, so it is good
for that onboarding request only. --sts-endpoint and --region must be the STS endpoint and
region that deployment verifies against (by default: $AWS_ENDPOINT_URL_STS, else
$AWS_ENDPOINT_URL, else https://sts.<region>.amazonaws.com for the configured region).

Output (always JSON, whatever --output says); the deployment, principal role and digest it was
signed for go to stderr:

  {"method": "POST", "url": "https://sts.eu-west-1.amazonaws.com/",
   "headers": {"Authorization": ["AWS4-HMAC-SHA256 Credential=…"], "X-Amz-Date": ["…"],
               "Host": ["sts.eu-west-1.amazonaws.com"], "Content-Type": ["…"],
               "X-Lanyard-Server-ID": ["…"], "X-Lanyard-Request-SHA256": ["…"],
               "X-Amz-Security-Token": ["…"]},
   "body": "Action=GetCallerIdentity&Version=2011-06-15"}

With the AWS SDK of another language, sign the same request yourself with SigV4 (service
"sts", the deployment's region) and print it in that shape:
  - method POST, URL the STS endpoint with path "/", no query;
  - body exactly Action=GetCallerIdentity&Version=2011-06-15, with the header
    Content-Type: application/x-www-form-urlencoded; charset=utf-8;
  - the header X-Lanyard-Server-ID: <server id>, set BEFORE signing so the signature covers it;
  - the header X-Lanyard-Request-SHA256: <digest>, set BEFORE signing too, where <digest> is
    the lowercase hex SHA-256 of the UTF-8 text of three lines joined by a line feed (no line
    feed at the end):
      POST /v1/partners
      scopes=<the body's scopes, sorted by their bytes, joined by ",">
      partnerName=<the body's partnerName, exactly as sent>
    e.g. for "Acme Logistics" with orders:read and inventory:read, the SHA-256 of
    "POST /v1/partners\nscopes=inventory:read,orders:read\npartnerName=Acme Logistics";
  - sign no headers but host, content-length, content-type, x-amz-date, x-amz-security-token,
    x-lanyard-server-id and x-lanyard-request-sha256 (Lanyard forwards only those, and refuses
    a request signed over any other);
  - "headers" maps each header name to a list of values: the Authorization, X-Amz-Date,
    X-Amz-Security-Token (if any) the signer added, Content-Type, X-Lanyard-Server-ID,
    X-Lanyard-Request-SHA256 and Host.

For example, in Python with botocore:

  import hashlib, json, boto3
  from botocore.auth import SigV4Auth
  from botocore.awsrequest import AWSRequest
  region, endpoint = "eu-west-1", "https://sts.eu-west-1.amazonaws.com/"
  name, scopes = "Acme Logistics", ["orders:read"]
  text = "POST /v1/partners\nscopes=" + ",".join(sorted(scopes)) + "\npartnerName=" + name
  body = "Action=GetCallerIdentity&Version=2011-06-15"
  req = AWSRequest(method="POST", url=endpoint, data=body, headers={
      "Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
      "X-Lanyard-Server-ID": "<server id>",
      "X-Lanyard-Request-SHA256": hashlib.sha256(text.encode()).hexdigest()})
  creds = boto3.Session().get_credentials().get_frozen_credentials()
  SigV4Auth(creds, "sts", region).add_auth(req)
  headers = {k: [v] for k, v in req.headers.items()}
  print(json.dumps({"partnerName": name, "scopes": scopes, "identityRequest":
      {"method": "POST", "url": endpoint, "headers": headers, "body": body}}))

In Java, AwsV4HttpSigner (software.amazon.awssdk.http.auth.aws.signer), and in JavaScript,
SignatureV4 (@smithy/signature-v4), sign the same request by the same rules. The AWS CLI cannot
sign a request without sending it: with a CLI profile, run this command with AWS_PROFILE set.`

// identityRequestOptions are the flags of `lanyard identity-request`.
type identityRequestOptions struct {
	serverID, partnerName, endpoint, region, roleARN string
	scopes                                           []string
	body                                             bool
}

func newIdentityRequestCmd(out *output) *cobra.Command {
	var o identityRequestOptions
	cmd := &cobra.Command{
		Use:   "identity-request --server-id ID --partner-name NAME --scope SCOPE...",
		Short: "Print a signed STS GetCallerIdentity request, to onboard as an AWS principal",
		Long:  identityRequestHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch {
			case strings.TrimSpace(o.serverID) == "":
				return usageError{errors.New("--server-id is required")}
			case o.partnerName == "":
				return usageError{errors.New("--partner-name is required: the request is signed for the onboarding request's partnerName")}
			case len(o.scopes) == 0:
				return usageError{errors.New("--scope is required: the request is signed for the onboarding request's scopes")}
			}
			if o.endpoint != "" {
				if _, err := stsproof.ParseEndpoint(o.endpoint); err != nil {
					return usageError{fmt.Errorf("--sts-endpoint: %w", err)}
				}
			}
			if o.roleARN != "" {
				if a, err := arn.Parse(o.roleARN); err != nil || a.Service != "iam" || !strings.HasPrefix(a.Resource, "role/") {
					return usageError{errors.New("--role-arn must be an IAM role ARN such as arn:aws:iam::111122223333:role/lanyard-onboarding")}
				}
			}
			scopes := slices.Compact(slices.Sorted(slices.Values(o.scopes)))
			req, signed, err := identityRequest(cmd.Context(), o, scopes, time.Now())
			if err != nil {
				return err
			}
			_, _ = fmt.Fprintf(cmd.ErrOrStderr(), "Signed for Lanyard deployment %q (X-Lanyard-Server-ID) at %s, region %s%s;\n"+
				"for partnerName %q and scopes %s (X-Lanyard-Request-SHA256 %s); valid until %s.\n",
				o.serverID, signed.endpoint, signed.region, signed.as, o.partnerName, strings.Join(scopes, ","),
				signed.digest, signed.at.Add(stsproof.DefaultMaxSkew).UTC().Format(time.RFC3339))
			if o.body {
				return writeJSON(out.w, struct {
					PartnerName     string           `json:"partnerName"`
					Scopes          []string         `json:"scopes"`
					IdentityRequest stsproof.Request `json:"identityRequest"`
				}{o.partnerName, scopes, req})
			}
			return writeJSON(out.w, req)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.serverID, "server-id", "", "the id of the Lanyard deployment you onboard with (required)")
	f.StringVar(&o.partnerName, "partner-name", "", "the partnerName of the onboarding request, exactly as you send it (required)")
	f.StringSliceVar(&o.scopes, "scope", nil, "a scope of the onboarding request; repeat it, or separate scopes with commas (required)")
	f.BoolVar(&o.body, "body", false, "print the whole onboarding request body (partnerName, scopes, identityRequest), not the identity request alone")
	f.StringVar(&o.roleARN, "role-arn", "", "sign as a session of this role, assumed first with your credentials through the same STS endpoint")
	f.StringVar(&o.endpoint, "sts-endpoint", "", "the STS endpoint that deployment verifies against (default $"+
		stsproof.EndpointSTSEnv+", else $"+stsproof.EndpointEnv+", else https://sts.<region>.amazonaws.com)")
	f.StringVar(&o.region, "region", "", "the region to sign for (default the AWS configuration's: $AWS_REGION or the profile's)")
	return cmd
}

// signedFor says what a request was signed for, for the line on stderr.
type signedFor struct {
	endpoint, region, as, digest string
	at                           time.Time
}

// identityRequest signs the request with the default credential chain (or a session of
// o.roleARN assumed with it), for o.endpoint ("": the default of the environment and the
// configured region), over the digest of o.partnerName and scopes.
func identityRequest(ctx context.Context, o identityRequestOptions, scopes []string, now time.Time) (stsproof.Request, signedFor, error) {
	var opts []func(*config.LoadOptions) error
	if o.region != "" {
		opts = append(opts, config.WithRegion(o.region))
	}
	cfg, err := awsconfig.Load(ctx, opts...)
	if err != nil {
		return stsproof.Request{}, signedFor{}, err
	}
	if cfg.Credentials == nil {
		return stsproof.Request{}, signedFor{}, errors.New("no AWS credentials: configure the default chain (AWS_PROFILE, AWS_ACCESS_KEY_ID, …)")
	}
	var ep *url.URL
	if o.endpoint != "" {
		ep, err = stsproof.ParseEndpoint(o.endpoint)
	} else {
		ep, err = stsproof.EndpointForRegion(os.Getenv, cfg.Region)
	}
	if err != nil {
		return stsproof.Request{}, signedFor{}, err
	}
	provider, as := cfg.Credentials, ""
	if o.roleARN != "" {
		client := sts.NewFromConfig(cfg, func(so *sts.Options) { so.BaseEndpoint = aws.String(ep.String()) })
		provider = stscreds.NewAssumeRoleProvider(client, o.roleARN, func(ao *stscreds.AssumeRoleOptions) {
			ao.RoleSessionName = "lanyard-identity-request"
		})
		as = ", as a session of " + o.roleARN
	}
	creds, err := provider.Retrieve(ctx)
	if err != nil {
		return stsproof.Request{}, signedFor{}, fmt.Errorf("get AWS credentials: %w", err)
	}
	digest := onboarding.RequestDigest(o.partnerName, scopes)
	req, err := stsproof.Sign(ctx, creds, cfg.Region, ep, o.serverID, digest, now)
	if err != nil {
		return stsproof.Request{}, signedFor{}, err
	}
	return req, signedFor{endpoint: ep.Host, region: cfg.Region, as: as, digest: digest, at: now}, nil
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // the body's "&" stays readable
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}
