// Package secretsmanagertest holds an in-memory AWS Secrets Manager for the unit tests of the
// packages that keep partner keys in it (onboarding, rotation, revocation): the operations they
// call, with the signatures of *secretsmanager.Client and its typed errors, and the semantics
// AWS documents for versions, staging labels, ClientRequestToken idempotency, scheduled
// deletion and rotation.
//
// The fake is checked against LocalStack: conformance_test.go holds scenarios that run against
// the fake as a unit test and against LocalStack 4.7.0 in conformance_integration_test.go
// (build tag integration). Where LocalStack and AWS differ, the fake does what AWS documents and
// the scenario names LocalStack's behaviour. The differences found:
//
//   - CreateSecret retried with the same ClientRequestToken and value: AWS ignores the retry and
//     answers as the first call did (CreateSecret, ClientRequestToken); LocalStack refuses it
//     with ResourceExistsException.
//   - PutSecretValue retried with the same token and value: AWS "succeeds but does nothing"
//     (PutSecretValue); LocalStack applies the staging labels again, so a retry without
//     VersionStages moves AWSCURRENT and strips AWSPREVIOUS.
//   - PutSecretValue reusing a token with a different value: AWS fails with
//     ResourceExistsException, "you can't modify an existing version"; LocalStack overwrites
//     the version's value.
//   - PutSecretValue creating a secret's first version: AWS attaches AWSCURRENT to it whatever
//     VersionStages says; LocalStack attaches only the labels given.
//   - A version whose last label is taken away is deprecated: AWS keeps it (it is listed with
//     IncludeDeprecated and readable by VersionId until Secrets Manager cleans versions up, past
//     100 of them); LocalStack drops it at once when the label moves through PutSecretValue
//     VersionStages or UpdateSecretVersionStage.
//   - UpdateSecretVersionStage attaching a label that another version holds, without
//     RemoveFromVersionId: AWS fails ("If the label is attached and you either do not specify
//     this parameter, or the version ID does not match, then the operation fails"); LocalStack
//     attaches it a second time, so two versions carry it.
//   - UpdateSecretVersionStage refused because MoveToVersionId is unknown: on AWS a refused
//     call changes nothing; LocalStack has already taken the label off RemoveFromVersionId, so
//     a refused move of AWSCURRENT leaves no version AWSCURRENT.
//   - PutSecretValue on a secret scheduled for deletion: AWS fails with InvalidRequestException
//     (its documented first cause: "The secret is scheduled for deletion"); LocalStack adds the
//     version.
//   - RotateSecret while AWSPENDING is on a version that is not AWSCURRENT: AWS "assumes that a
//     previous rotation request is still in progress and returns an error" (RotateSecret);
//     LocalStack, rotating immediately, runs the rotation function again on the pending version.
//   - TagResource on an unknown secret: AWS answers ResourceNotFoundException; LocalStack fails
//     with an internal error.
//
// Where AWS documents no answer the fake follows LocalStack: GetSecretValue with a VersionId and
// a VersionStage that is not on it is InvalidRequestException; UpdateSecretVersionStage naming
// an unknown version is InvalidParameterException; ListSecretVersionIds on a secret scheduled
// for deletion is InvalidRequestException; TagResource works on it.
//
// CancelRotateSecret turns rotation off and leaves the labels as they are, on AWS and LocalStack
// alike (a pending version stays AWSPENDING until the caller removes the label).
//
// What the fake leaves out: Lambda (RotateSecret cannot know whether the rotation function
// exists; set the Rotate hook to stand in for it), KMS (KmsKeyId is recorded, never checked),
// resource policies, replication, UpdateSecret, RestoreSecret, and AWS's eventual consistency (a
// name is free again as soon as ForceDeleteWithoutRecovery returns; on AWS the deletion runs in
// the background and an immediate CreateSecret may need to retry).
//
// The fake never puts a secret value into an error.
package secretsmanagertest
