"""The executor as LocalStack loads and drives it: plugin registration and LocalStack's own ExecutionEnvironment."""

import json
import time
import uuid
from datetime import datetime

import psutil
import pytest

from localstack import config
from localstack.runtime import hooks
from localstack.services.lambda_.invocation import execution_environment as ee
from localstack.services.lambda_.invocation.executor_endpoint import StatusErrorException
from localstack.services.lambda_.invocation.lambda_models import Invocation
from localstack.services.lambda_.invocation.runtime_executor import (
    EXECUTOR_PLUGIN_MANAGER,
    get_runtime_executor,
)


def test_executor_plugin_is_registered_under_its_name(monkeypatch):
    from lanyard_executor.executor import ProcessRuntimeExecutor

    assert EXECUTOR_PLUGIN_MANAGER.exists("lanyard-process")
    monkeypatch.setattr(config, "LAMBDA_RUNTIME_EXECUTOR", "lanyard-process")
    assert get_runtime_executor() is ProcessRuntimeExecutor


def test_runtime_hooks_are_registered():
    start_hooks = {plugin.name: plugin for plugin in hooks.on_infra_start.manager.load_all()}
    shutdown_hooks = {plugin.name for plugin in hooks.on_infra_shutdown.manager.load_all()}
    assert "lanyard_patch_rotate_secret" in start_hooks
    assert start_hooks["lanyard_patch_rotate_secret"].fn.__module__ == "lanyard_executor.hooks"
    assert start_hooks["lanyard_bind_gateway"].fn.__module__ == "lanyard_executor.hooks"
    assert "lanyard_stop_process_environments" in shutdown_hooks


@pytest.fixture
def localstack_environment(monkeypatch, function_factory):
    """LocalStack's ExecutionEnvironment with our executor, credentials stubbed (no STS)."""
    monkeypatch.setattr(config, "LAMBDA_RUNTIME_EXECUTOR", "lanyard-process")
    monkeypatch.setattr(
        ee.ExecutionEnvironment,
        "get_credentials",
        lambda self: {"AccessKeyId": "ASIAX", "SecretAccessKey": "secret", "SessionToken": "token"},
    )
    created = []

    def factory(**kwargs):
        version = function_factory(**kwargs)
        environment = ee.ExecutionEnvironment(
            function_version=version,
            initialization_type="on-demand",
            on_timeout=lambda *args: None,
            version_manager_id="vm",
        )
        created.append(environment)
        return environment

    yield factory
    for environment in created:
        if environment.status not in (ee.RuntimeStatus.INACTIVE, ee.RuntimeStatus.STOPPED):
            environment.stop()
        environment.runtime_executor.stop()


def make_invocation(payload: dict) -> Invocation:
    return Invocation(
        payload=json.dumps(payload).encode(),
        invoked_arn="arn:aws:lambda:us-east-1:000000000000:function:probe",
        client_context=None,
        invocation_type="RequestResponse",
        invoke_time=datetime.now(),
        request_id=str(uuid.uuid4()),
        trace_context={},
    )


def test_start_invoke_release_stop_through_localstack(localstack_environment):
    environment = localstack_environment(environment={"GREETING": "hello"})
    environment.start()
    assert environment.status == ee.RuntimeStatus.READY
    pid = environment.runtime_executor._runtime.process.pid

    for _ in range(2):
        environment.reserve()
        invocation = make_invocation({"action": "echo"})
        result = environment.invoke(invocation)
        environment.release()
        assert result.request_id == invocation.request_id
        assert result.is_error is False
        body = json.loads(result.payload)
        assert body["pid"] == pid
        env = body["env"]
        assert env["GREETING"] == "hello"
        assert env["AWS_ACCESS_KEY_ID"] == "ASIAX"
        assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/probe"
        assert env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
        assert body["headers"]["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
        assert f"START RequestId: {invocation.request_id}" in result.logs

    environment.stop()
    assert environment.status == ee.RuntimeStatus.STOPPED
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_init_error_fails_the_environment_like_a_status_error_callback(localstack_environment):
    environment = localstack_environment(environment={"FAKE_INIT": "init-error"})
    with pytest.raises(StatusErrorException) as raised:
        environment.start()
    assert environment.status == ee.RuntimeStatus.STARTUP_FAILED
    assert json.loads(raised.value.payload)["errorType"] == "ConfigError"
    assert environment.runtime_executor._runtime is None


def test_startup_timeout_stops_a_runtime_that_never_polls(localstack_environment, monkeypatch):
    monkeypatch.setattr(ee.ExecutionEnvironment, "_get_startup_timeout_seconds", lambda self: 1)
    environment = localstack_environment(environment={"FAKE_INIT": "slow"})
    started = time.monotonic()
    with pytest.raises(ee.EnvironmentStartupTimeoutException):
        environment.start()
    assert time.monotonic() - started < 4
    assert environment.status == ee.RuntimeStatus.STARTUP_TIMED_OUT
    assert environment.runtime_executor._runtime is None
