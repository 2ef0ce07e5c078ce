//go:build integration

package audittrail

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/lanyardhq/lanyard/integration/harness"
)

// TestS3TrailAgainstLocalStack writes a trail to a versioned LocalStack bucket as the exporter
// does (objects gzip with Content-Encoding gzip, manifests with their signature metadata) and
// reads it back through S3Trail: it verifies; a new version of one object fails its window
// and names the object and the version read; a deleted manifest is caught.
func TestS3TrailAgainstLocalStack(t *testing.T) {
	ctx := t.Context()
	env, err := harness.Connect(ctx)
	if err != nil {
		t.Fatalf("connect (run `make local-up`): %v", err)
	}
	client := s3.NewFromConfig(env.Config, func(o *s3.Options) { o.UsePathStyle = true })
	bucket := harness.Name("lanyard-audit-it")
	if _, err := client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatalf("create bucket: %v", err)
	}
	t.Cleanup(func() { emptyAndDelete(t, client, bucket) })
	if _, err := client.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatalf("versioning: %v", err)
	}
	key := newSigningKey(t, "arn:aws:kms:us-east-1:000000000000:key/k")
	bt := buildTrail(t, smallSpec(), key)
	for _, k := range bt.trail.Keys("") {
		e := mustEntry(t, bt.trail, k)
		in := &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(e.Body), Metadata: e.Metadata}
		if strings.HasPrefix(k, ObjectPrefix) {
			in.ContentType, in.ContentEncoding = aws.String(ObjectContentType), aws.String(ObjectContentEncoding)
		} else {
			in.ContentType = aws.String(ManifestContentType)
		}
		if _, err := client.PutObject(ctx, in); err != nil {
			t.Fatalf("put %s: %v", k, err)
		}
	}
	tr := &S3Trail{S3: client, Bucket: bucket}
	now := bt.now.Add(90 * time.Second)
	if sum, vs := verifyAll(t, tr, now, key.der); !sum.OK() || sum.Records == 0 {
		t.Fatalf("the trail as written does not verify (%+v):\n%s", sum, failures(sum, vs))
	}

	object := bt.sealed[0].Manifest.Objects[0].Key
	content := gunzip(t, mustEntry(t, bt.trail, object).Body)
	put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(object),
		Body: bytes.NewReader(regzip(bytes.Replace(content, []byte(`"n":0`), []byte(`"n":9`), 1))), ContentEncoding: aws.String(ObjectContentEncoding)})
	if err != nil {
		t.Fatalf("replace %s: %v", object, err)
	}
	sum, vs := verifyAll(t, tr, now, key.der)
	got := failures(sum, vs)
	if want := "window " + Stamp(trailEpoch) + ": object " + object + " (version " + aws.ToString(put.VersionId) + ")"; sum.OK() || !strings.Contains(got, want) {
		t.Fatalf("a new version of %s: failures do not say %q:\n%s", object, want, got)
	}

	manifest := bt.sealed[1].Key
	if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(manifest)}); err != nil {
		t.Fatalf("delete %s: %v", manifest, err)
	}
	sum, vs = verifyAll(t, tr, now, key.der)
	if got := failures(sum, vs); !strings.Contains(got, "links to manifest "+manifest+", but the manifest before is "+bt.sealed[0].Key) {
		t.Fatalf("a deleted manifest is not named:\n%s", got)
	}
}

// emptyAndDelete removes every version of every key, then the bucket.
func emptyAndDelete(t *testing.T, client *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectVersionsPaginator(client, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Logf("list versions of %s: %v", bucket, err)
			return
		}
		for _, v := range page.Versions {
			_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			_, _ = client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: m.Key, VersionId: m.VersionId})
		}
	}
	if _, err := client.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Logf("delete bucket %s: %v", bucket, err)
	}
}
