package audittrail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
)

// S3API is what S3Trail calls of S3.
type S3API interface {
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectVersions(ctx context.Context, in *s3.ListObjectVersionsInput, opts ...func(*s3.Options)) (*s3.ListObjectVersionsOutput, error)
}

var _ S3API = (*s3.Client)(nil)

// S3Trail reads a trail from its bucket: the current version of each key, and the list of
// every version (VersionLister). It needs s3:ListBucket, s3:ListBucketVersions and
// s3:GetObject (s3:GetObjectVersion is not used).
type S3Trail struct {
	S3     S3API
	Bucket string
}

var (
	_ Trail         = (*S3Trail)(nil)
	_ VersionLister = (*S3Trail)(nil)
)

// ListVersions implements VersionLister: ListObjectVersions under prefix, page by page, its
// versions and delete markers.
func (t *S3Trail) ListVersions(ctx context.Context, prefix string) ([]ObjectVersion, error) {
	var out []ObjectVersion
	p := s3.NewListObjectVersionsPaginator(t.S3, &s3.ListObjectVersionsInput{Bucket: aws.String(t.Bucket), Prefix: aws.String(prefix)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list the versions under %s in bucket %s: %w", prefix, t.Bucket, err)
		}
		for _, v := range page.Versions {
			out = append(out, ObjectVersion{Key: aws.ToString(v.Key), VersionID: aws.ToString(v.VersionId)})
		}
		for _, d := range page.DeleteMarkers {
			out = append(out, ObjectVersion{Key: aws.ToString(d.Key), VersionID: aws.ToString(d.VersionId), DeleteMarker: true})
		}
	}
	return out, nil
}

// ListManifests implements Trail: ListObjectsV2 under ManifestPrefix, page by page. S3 lists
// keys in UTF-8 binary order, the order of window stamps.
func (t *S3Trail) ListManifests(ctx context.Context, after string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(t.Bucket), Prefix: aws.String(ManifestPrefix)}
	if after != "" {
		in.StartAfter = aws.String(after)
	}
	var keys []string
	p := s3.NewListObjectsV2Paginator(t.S3, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list %s in bucket %s: %w", ManifestPrefix, t.Bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys, nil
}

// GetManifest implements Trail (ReadManifest).
func (t *S3Trail) GetManifest(ctx context.Context, key string) ([]byte, map[string]string, string, error) {
	return ReadManifest(ctx, t.S3, t.Bucket, key)
}

// ObjectGetter is S3's GetObject.
type ObjectGetter interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// MaxManifestBytes bounds a manifest read back: a window's objects and chain ranges.
const MaxManifestBytes = 64 << 20

// ReadManifest reads the manifest stored under key in bucket: its bytes (refused past
// MaxManifestBytes rather than held), its metadata (keys in lower case) and the version read.
// A key with no object (or a delete marker) is ErrNotFound.
func ReadManifest(ctx context.Context, c ObjectGetter, bucket, key string) ([]byte, map[string]string, string, error) {
	out, err := get(ctx, c, bucket, key)
	if err != nil {
		return nil, nil, "", err
	}
	defer func() { _ = out.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(out.Body, MaxManifestBytes+1))
	if err != nil {
		return nil, nil, "", fmt.Errorf("read s3://%s/%s: %w", bucket, key, err)
	}
	if len(body) > MaxManifestBytes {
		return nil, nil, "", fmt.Errorf("read s3://%s/%s: larger than %d bytes", bucket, key, MaxManifestBytes)
	}
	md := make(map[string]string, len(out.Metadata))
	for k, v := range out.Metadata {
		md[strings.ToLower(k)] = v
	}
	return body, md, aws.ToString(out.VersionId), nil
}

// GetObject implements Trail. The body is the stored gzip: the SDK asks S3 for the bytes as
// stored (no transparent decompression).
func (t *S3Trail) GetObject(ctx context.Context, key string) (io.ReadCloser, string, error) {
	out, err := get(ctx, t.S3, t.Bucket, key)
	if err != nil {
		return nil, "", err
	}
	return out.Body, aws.ToString(out.VersionId), nil
}

func get(ctx context.Context, c ObjectGetter, bucket, key string) (*s3.GetObjectOutput, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("s3://%s/%s: %w", bucket, key, ErrNotFound)
		}
		return nil, fmt.Errorf("get s3://%s/%s: %w", bucket, key, err)
	}
	return out, nil
}

// notFound: NoSuchKey, or a delete marker as the current version (S3 answers 404 with the
// error code NoSuchKey as well, or MethodNotAllowed only for a versioned GET, which is not used).
func notFound(err error) bool {
	var nsk *s3types.NoSuchKey
	if errors.As(err, &nsk) {
		return true
	}
	var api smithy.APIError
	return errors.As(err, &api) && (api.ErrorCode() == "NoSuchKey" || api.ErrorCode() == "NotFound")
}
