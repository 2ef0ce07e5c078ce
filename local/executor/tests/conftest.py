import json
import sys
import uuid
from pathlib import Path

import pytest

from localstack.services.lambda_.invocation.lambda_models import (
    FunctionVersion,
    HotReloadingCode,
    VersionFunctionConfiguration,
    VersionIdentifier,
    VersionState,
)

FAKE_BOOTSTRAP = Path(__file__).with_name("fake_bootstrap.py")


def make_function_version(
    code_dir: Path, timeout: int = 3, environment: dict | None = None, name: str = "probe"
) -> FunctionVersion:
    config = VersionFunctionConfiguration(
        description="",
        role="arn:aws:iam::000000000000:role/lambda",
        timeout=timeout,
        runtime="provided.al2023",
        memory_size=128,
        handler="bootstrap",
        package_type="Zip",
        environment=environment or {},
        architectures=["x86_64"],
        internal_revision="1",
        ephemeral_storage={"Size": 512},
        snap_start={"ApplyOn": "None", "OptimizationStatus": "Off"},
        tracing_config_mode="PassThrough",
        code=HotReloadingCode(host_path=str(code_dir)),
        last_modified="2024-01-01T00:00:00.000+0000",
        state=VersionState(state="Active"),
    )
    identifier = VersionIdentifier(
        function_name=name, qualifier="$LATEST", region="us-east-1", account="000000000000"
    )
    return FunctionVersion(id=identifier, config=config)


@pytest.fixture
def function_factory(tmp_path):
    """Creates a function whose bootstrap is the fake runtime, prepared like LocalStack does."""
    from lanyard_executor.executor import ProcessRuntimeExecutor

    def factory(timeout: int = 3, environment: dict | None = None, name: str = "probe"):
        code_dir = tmp_path / f"code-{uuid.uuid4().hex[:6]}"
        code_dir.mkdir()
        bootstrap = code_dir / "bootstrap"
        bootstrap.write_text(f"#!{sys.executable}\n" + FAKE_BOOTSTRAP.read_text())
        bootstrap.chmod(0o644)  # prepare_version must make it executable
        version = make_function_version(code_dir, timeout, environment, name)
        ProcessRuntimeExecutor.prepare_version(version)
        return version

    return factory


def computed_env(version: FunctionVersion, extra: dict | None = None) -> dict:
    """A trimmed version of what LocalStack's ExecutionEnvironment computes."""
    env = {
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_NAME": version.id.function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_TIMEOUT": version.config.timeout,
        "AWS_ACCESS_KEY_ID": "ASIAFAKE",
        "LAMBDA_TASK_ROOT": "/var/task",
        "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
        "LOCALSTACK_HOSTNAME": "127.0.0.1",
        "LOCALSTACK_RUNTIME_ID": "abc",
        "LOCALSTACK_RUNTIME_ENDPOINT": "http://127.0.0.1:4566/_localstack_lambda/abc",
        "LOCALSTACK_FUNCTION_ACCOUNT_ID": "000000000000",
        "_HANDLER": "bootstrap",
    }
    env.update(version.config.environment)
    env.update(extra or {})
    return env


@pytest.fixture
def executor_factory(function_factory):
    """Creates and starts executors; every one is stopped at the end of the test."""
    from lanyard_executor.executor import ProcessRuntimeExecutor

    created = []

    def factory(version=None, start=True, extra_env=None, **kwargs):
        version = version or function_factory(**kwargs)
        executor = ProcessRuntimeExecutor(uuid.uuid4().hex, version)
        created.append(executor)
        if start:
            executor.start(computed_env(version, extra_env))
        return executor

    yield factory
    for executor in created:
        executor.stop()


def invoke(executor, event: dict | None = None, request_id: str | None = None):
    request_id = request_id or str(uuid.uuid4())
    payload = {
        "invoke-id": request_id,
        "invoked-function-arn": executor.function_version.qualified_arn,
        "payload": json.dumps(event or {}),
        "trace-id": "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    }
    return executor.invoke(payload)
