//go:build faultinject || integration

package ddbfault

import "github.com/lanyardhq/lanyard/shared/platform/faultinject"

// Answer is the error every attempt of a call failing with f answers, as the SDK's deserializer
// returns DynamoDB's: for faultinject.APIRule's Err.
func (f Fault) Answer(op string, input any) error {
	err := f.Err(op, input)
	return faultinject.ResponseError(HTTPStatus(err), err)
}
