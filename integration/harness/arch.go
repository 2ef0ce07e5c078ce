package harness

import (
	"runtime"

	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// hostArchitecture is the Lambda architecture matching `make build-local`'s binaries.
func hostArchitecture() lambdatypes.Architecture {
	if runtime.GOARCH == "arm64" {
		return lambdatypes.ArchitectureArm64
	}
	return lambdatypes.ArchitectureX8664
}
