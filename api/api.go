// Package api is Lanyard's API contract as the tools and tests above shared/ see it, and the
// handler that serves it. The OpenAPI 3.1 document and the validation of request bodies against
// it live in shared/domain/openapi, below the features that validate with them; the names here
// are those.
package api

import "github.com/lanyardhq/lanyard/shared/domain/openapi"

// DocumentURL is the base URI the document's schemas are compiled under.
const DocumentURL = openapi.DocumentURL

// The operations of the document, by operationId.
const (
	OpGetOpenAPIDocument = openapi.OpGetOpenAPIDocument
	OpGetHealth          = openapi.OpGetHealth
	OpCreateInvite       = openapi.OpCreateInvite
	OpCreatePartner      = openapi.OpCreatePartner
	OpGetOwnPartner      = openapi.OpGetOwnPartner
	OpCreateToken        = openapi.OpCreateToken
	OpListOnboardings    = openapi.OpListOnboardings
	OpApproveOnboarding  = openapi.OpApproveOnboarding
	OpDenyOnboarding     = openapi.OpDenyOnboarding
	OpPickUpOnboarding   = openapi.OpPickUpOnboarding
	OpRotatePartnerKey   = openapi.OpRotatePartnerKey
	OpRevokePartnerKeys  = openapi.OpRevokePartnerKeys
	OpPickUpReplacement  = openapi.OpPickUpReplacement

	OpGetCurrentCredential = openapi.OpGetCurrentCredential
	OpAcknowledgeRotation  = openapi.OpAcknowledgeRotation
	OpRevokeCredential     = openapi.OpRevokeCredential

	OpIntrospectKey = openapi.OpIntrospectKey
)

// ErrNoRequestBody is returned by ValidateBody for an operation the document gives no JSON
// request body (or does not have).
var ErrNoRequestBody = openapi.ErrNoRequestBody

// BodyError is a request body ValidateBody refused.
type BodyError = openapi.BodyError

// Document returns the OpenAPI document, as GET /v1/openapi.json serves it. The slice is a copy.
func Document() []byte { return openapi.Document() }

// ValidateBody checks body against the request-body schema of operation operationID
// (openapi.ValidateBody).
func ValidateBody(operationID string, body []byte) error {
	return openapi.ValidateBody(operationID, body)
}
