"""The RotateSecret patch, against LocalStack's patched moto backend in process (no LocalStack running)."""

import io
import json
import time
import uuid

import pytest

import localstack.services.secretsmanager.provider as localstack_provider
from lanyard_executor import secretsmanager_patch
from lanyard_executor.hooks import lanyard_patch_rotate_secret
from localstack.aws.api.secretsmanager import InvalidRequestException
from moto.secretsmanager.models import SecretsManagerBackend, secretsmanager_backends

ROTATION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:rotate"


class FakeLambda:
    """Stands in for LocalStack's internal Lambda client; records each invocation."""

    def __init__(self, backend, fail_steps=()):
        self.backend = backend
        self.fail_steps = set(fail_steps)
        self.calls = []

    def get_function(self, FunctionName):
        return {"Configuration": {"FunctionArn": FunctionName}}

    def invoke(self, FunctionName, Payload):
        event = json.loads(Payload)
        secret = next(s for s in self.backend.secrets.values() if event["SecretId"] in (s.name, s.arn))
        # what the rotation function would see through DescribeSecret / GetSecretValue
        version = secret.versions.get(event["ClientRequestToken"])
        self.calls.append(
            {
                "function": FunctionName,
                "event": event,
                "stages": list(version["version_stages"]) if version else None,
                "value": version.get("secret_string") if version else None,
                "rotation_enabled": secret.rotation_enabled,
            }
        )
        if event["Step"] in self.fail_steps:
            return {"FunctionError": "Unhandled", "Payload": io.BytesIO(b'{"errorMessage":"db down"}')}
        return {"StatusCode": 200, "Payload": io.BytesIO(b"null")}


class FakeClients:
    def __init__(self, lambda_client):
        self.lambda_ = lambda_client


@pytest.fixture
def backend():
    return secretsmanager_backends["000000000000"]["us-east-1"]


@pytest.fixture
def fake_lambda(backend, monkeypatch):
    client = FakeLambda(backend)
    factory = lambda *args, **kwargs: FakeClients(client)  # noqa: E731
    monkeypatch.setattr(localstack_provider, "connect_to", factory)
    monkeypatch.setattr("localstack.aws.connect.connect_to", factory)
    return client


@pytest.fixture
def patched():
    secretsmanager_patch.undo()
    lanyard_patch_rotate_secret()  # the on_infra_start hook applies it
    yield
    secretsmanager_patch.undo()


def create_secret(backend, value="s3cret"):
    name = f"db-{uuid.uuid4().hex[:8]}"
    backend.create_secret(name, value, None, None, None, None, None, [], False)
    return backend.secrets[name]


def current_version_id(secret):
    return next(v for v, data in secret.versions.items() if "AWSCURRENT" in data["version_stages"])


def test_localstack_4_7_fails_without_the_patch(backend, fake_lambda):
    secretsmanager_patch.undo()
    secret = create_secret(backend)
    with pytest.raises(UnboundLocalError, match="new_version_id"):
        backend.rotate_secret(
            secret.name,
            rotation_lambda_arn=ROTATION_ARN,
            rotation_rules={"AutomaticallyAfterDays": 30},
            rotate_immediately=False,
        )


def test_the_patch_wraps_localstacks_function(patched):
    ours = SecretsManagerBackend.rotate_secret
    assert ours.__subject__ is secretsmanager_patch.rotate_secret
    # the function ours delegates to is LocalStack's own patch
    assert secretsmanager_patch._applied_patch.old.__subject__ is localstack_provider.backend_rotate_secret
    assert lanyard_patch_rotate_secret() is None and SecretsManagerBackend.rotate_secret is ours  # idempotent


def test_rotate_later_stores_the_schedule_and_runs_only_test_secret(backend, fake_lambda, patched):
    secret = create_secret(backend, "v1")
    current = current_version_id(secret)
    token = str(uuid.uuid4())

    result = json.loads(
        backend.rotate_secret(
            secret.name,
            client_request_token=token,
            rotation_lambda_arn=ROTATION_ARN,
            rotation_rules={"AutomaticallyAfterDays": 30},
            rotate_immediately=False,
        )
    )

    assert result == {"ARN": secret.arn, "Name": secret.name}
    # configuration stored, as AWS does
    assert secret.rotation_enabled is True
    assert secret.rotation_lambda_arn == ROTATION_ARN
    assert secret.auto_rotate_after_days == 30
    assert abs(secret.next_rotation_date - (time.time() + 30 * 86400)) < 60
    assert secret.last_rotation_date is None  # nothing was rotated
    # exactly one call: testSecret, on an AWSPENDING copy of the current value
    assert fake_lambda.calls == [
        {
            "function": ROTATION_ARN,
            "event": {"Step": "testSecret", "SecretId": secret.arn, "ClientRequestToken": token},
            "stages": ["AWSPENDING"],
            "value": "v1",
            "rotation_enabled": True,
        }
    ]
    # the test version is removed again; the current value is untouched
    assert token not in secret.versions
    assert current_version_id(secret) == current
    assert secret.versions[current]["secret_string"] == "v1"
    assert all("AWSPENDING" not in v["version_stages"] for v in secret.versions.values())


def test_a_failing_test_step_does_not_fail_the_call(backend, fake_lambda, patched):
    fake_lambda.fail_steps = {"testSecret"}
    secret = create_secret(backend)
    result = json.loads(
        backend.rotate_secret(
            secret.name,
            rotation_lambda_arn=ROTATION_ARN,
            rotation_rules={"AutomaticallyAfterDays": 7},
            rotate_immediately=False,
        )
    )
    assert result["Name"] == secret.name
    assert [call["event"]["Step"] for call in fake_lambda.calls] == ["testSecret"]
    assert len(secret.versions) == 1
    assert secret.rotation_enabled is True


def test_an_unfinished_rotation_is_refused_before_anything_changes(backend, fake_lambda, patched):
    secret = create_secret(backend)
    secret.versions["stuck"] = {"version_id": "stuck", "version_stages": ["AWSPENDING"], "createdate": 0}
    with pytest.raises(InvalidRequestException):
        backend.rotate_secret(
            secret.name,
            rotation_lambda_arn=ROTATION_ARN,
            rotation_rules={"AutomaticallyAfterDays": 7},
            rotate_immediately=False,
        )
    assert secret.rotation_lambda_arn is None
    assert fake_lambda.calls == []


def test_immediate_rotation_is_left_to_localstack(backend, fake_lambda, patched):
    secret = create_secret(backend)
    token = str(uuid.uuid4())
    result = json.loads(
        backend.rotate_secret(
            secret.name,
            client_request_token=token,
            rotation_lambda_arn=ROTATION_ARN,
            rotation_rules={"AutomaticallyAfterDays": 7},
            rotate_immediately=True,
        )
    )
    assert result["VersionId"] == token
    assert [call["event"]["Step"] for call in fake_lambda.calls] == [
        "createSecret",
        "setSecret",
        "testSecret",
        "finishSecret",
    ]
    # LocalStack sends the secret name where AWS sends the ARN
    assert fake_lambda.calls[0]["event"]["SecretId"] == secret.name
    assert secret.last_rotation_date is not None
