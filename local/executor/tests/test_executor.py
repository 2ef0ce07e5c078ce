"""The executor with real processes (the fake runtime in fake_bootstrap.py), without LocalStack running."""

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import psutil
import pytest

from conftest import computed_env, invoke
from lanyard_executor.executor import ProcessRuntimeExecutor
from lanyard_executor.process import describe_exit
from localstack.services.lambda_.invocation.executor_endpoint import (
    ShutdownDuringStartup,
    StatusErrorException,
)


def is_running(pid: int) -> bool:
    """True if the process exists and is not a zombie."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pid: int, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not is_running(pid):
            return True
        time.sleep(0.02)
    return False


def bootstrap_pid(executor) -> int:
    return executor._runtime.process.pid


# --- results and logs -----------------------------------------------------------------------


def test_success_returns_the_payload_and_the_invocation_logs(executor_factory):
    executor = executor_factory()
    result = invoke(executor, {"action": "echo", "n": 1}, request_id="req-ok")

    assert result.request_id == "req-ok"
    assert result.is_error is False
    assert isinstance(result.payload, bytes)
    body = json.loads(result.payload)
    assert body["echo"] == {"action": "echo", "n": 1}
    assert body["headers"]["Lambda-Runtime-Aws-Request-Id"] == "req-ok"
    assert body["headers"]["Lambda-Runtime-Invoked-Function-Arn"] == executor.function_version.qualified_arn
    assert body["headers"]["Lambda-Runtime-Trace-Id"].startswith("Root=1-5759e988")
    deadline_ms = int(body["headers"]["Lambda-Runtime-Deadline-Ms"])
    assert 0 < deadline_ms - time.time() * 1000 <= 3000

    logs = result.logs.splitlines()
    # init output first, then the invocation framed the way LocalStack's container init frames it
    assert logs[0].startswith("init output pid=")
    assert logs[1] == "START RequestId: req-ok Version: $LATEST"
    assert "stdout line for req-ok action=echo" in logs
    assert "stderr line for req-ok" in logs
    assert logs[-2] == "END RequestId: req-ok"
    assert re.fullmatch(
        r"REPORT RequestId: req-ok\tDuration: \d+\.\d\d ms\tBilled Duration: \d+ ms\t"
        r"Memory Size: 128 MB\tMax Memory Used: 128 MB\tInit Duration: \d+\.\d\d ms\t",
        logs[-1],
    )


def test_each_invocation_gets_only_its_own_logs(executor_factory):
    executor = executor_factory()
    first = invoke(executor, {}, request_id="first")
    second = invoke(executor, {}, request_id="second")
    assert "first" not in second.logs
    assert "init output" not in second.logs
    assert "Init Duration" not in second.logs
    assert second.logs.startswith("START RequestId: second")
    assert "stdout line for second" in second.logs and "stderr line for second" in second.logs
    assert "first" in executor.get_logs() and "second" in executor.get_logs()
    assert first.logs.count("START RequestId") == 1


def test_returned_error_is_an_error_result_with_the_runtime_payload(executor_factory):
    executor = executor_factory()
    result = invoke(executor, {"action": "error", "message": "order 42 not found"}, request_id="req-err")
    assert result.is_error is True
    assert json.loads(result.payload) == {"errorMessage": "order 42 not found", "errorType": "BadThing"}
    assert "stdout line for req-err action=error" in result.logs
    # the environment keeps serving after a handled error
    assert invoke(executor, {"action": "echo"}).is_error is False


def test_chunked_response_from_the_runtime(executor_factory):
    executor = executor_factory()
    result = invoke(executor, {"action": "chunked", "data": "x" * 10000})
    assert result.is_error is False
    assert json.loads(result.payload)["echo"]["data"] == "x" * 10000


def test_oversized_response_is_a_size_error(executor_factory, monkeypatch):
    from localstack import config

    monkeypatch.setattr(config, "LAMBDA_LIMITS_MAX_FUNCTION_PAYLOAD_SIZE_BYTES", 2000)
    executor = executor_factory()
    result = invoke(executor, {"action": "big", "size": 5000})
    assert result.is_error is True
    assert json.loads(result.payload)["errorType"] == "Function.ResponseSizeTooLarge"


# --- environment ----------------------------------------------------------------------------


def test_process_environment_is_computed_not_inherited(executor_factory, monkeypatch):
    monkeypatch.setenv("SOME_HOST_SECRET", "must-not-leak")
    monkeypatch.setenv("LANYARD_TABLE", "from-host")
    monkeypatch.setenv("LANYARD_OVERRIDDEN", "from-host")
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:8000")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", "127.0.0.1:3999")
    executor = executor_factory(environment={"LANYARD_OVERRIDDEN": "from-function", "GREETING": "hi"})
    env = json.loads(invoke(executor, {}).payload)["env"]
    code_dir = str(executor.function_version.config.code.get_unzipped_code_location())

    assert "SOME_HOST_SECRET" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert env["GREETING"] == "hi"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "probe"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert env["_HANDLER"] == "bootstrap"
    assert env["LAMBDA_TASK_ROOT"] == code_dir
    assert re.fullmatch(r"127\.0\.0\.1:\d+", env["AWS_LAMBDA_RUNTIME_API"])
    assert not any(name.startswith("LOCALSTACK_RUNTIME") for name in env)
    assert "LOCALSTACK_FUNCTION_ACCOUNT_ID" not in env
    assert env["LOCALSTACK_HOSTNAME"] == "127.0.0.1"
    # pass-through for local runs, unless the function sets the name itself
    assert env["LANYARD_TABLE"] == "from-host"
    assert env["LANYARD_OVERRIDDEN"] == "from-function"
    assert env["AWS_ENDPOINT_URL_DYNAMODB"] == "http://127.0.0.1:8000"
    assert env["AWS_XRAY_DAEMON_ADDRESS"] == "127.0.0.1:3999"
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"  # LocalStack's, no host value set


def test_working_directory_and_private_tmpdir(executor_factory):
    executor = executor_factory()
    body = json.loads(invoke(executor, {}).payload)
    tmp_dir = body["env"]["TMPDIR"]
    assert body["cwd"] == str(executor.function_version.config.code.get_unzipped_code_location())
    assert Path(tmp_dir).is_dir()
    other = executor_factory()
    assert json.loads(invoke(other, {}).payload)["env"]["TMPDIR"] != tmp_dir
    executor.stop()
    assert not Path(tmp_dir).exists()


def test_prepare_version_requires_a_bootstrap_and_makes_it_executable(function_factory, tmp_path):
    version = function_factory()
    bootstrap = Path(version.config.code.get_unzipped_code_location()) / "bootstrap"
    assert os.access(bootstrap, os.X_OK)

    from conftest import make_function_version
    from localstack.services.lambda_.invocation.runtime_executor import LambdaRuntimeException

    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(LambdaRuntimeException, match="bootstrap"):
        ProcessRuntimeExecutor.prepare_version(make_function_version(empty))


# --- timeouts, crashes, init failures --------------------------------------------------------


def test_timeout_kills_the_process_and_reports_like_localstack(executor_factory):
    executor = executor_factory(timeout=1)
    invoke(executor, {})
    pid = bootstrap_pid(executor)

    started = time.monotonic()
    result = invoke(executor, {"action": "sleep", "seconds": 30}, request_id="req-slow")
    elapsed = time.monotonic() - started

    assert 0.9 < elapsed < 3
    assert result.is_error is True
    assert re.fullmatch(
        rb'\{"errorMessage":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ req-slow Task timed out after 1\.00 seconds"\}',
        result.payload,
    )
    assert wait_gone(pid), "the timed-out bootstrap must be killed"
    assert "stdout line for req-slow action=sleep" in result.logs
    assert re.search(r"Z req-slow Task timed out after 1\.00 seconds\n", result.logs)
    assert "Status: timeout" in result.logs

    # the environment re-initialises on the next invocation (a new process)
    after = invoke(executor, {})
    assert after.is_error is False
    assert json.loads(after.payload)["pid"] != pid
    assert "Init Duration" in after.logs


def test_crash_mid_invocation_is_a_runtime_exit_error(executor_factory):
    executor = executor_factory(timeout=10)
    invoke(executor, {})
    pid = bootstrap_pid(executor)
    started = time.monotonic()
    result = invoke(executor, {"action": "crash", "code": 7}, request_id="req-crash")
    assert time.monotonic() - started < 3, "a crash must not wait for the timeout"
    assert result.is_error is True
    assert json.loads(result.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "RequestId: req-crash Error: Runtime exited with error: exit status 7",
    }
    assert "stdout line for req-crash action=crash" in result.logs
    assert "Runtime.ExitError" in result.logs
    assert not is_running(pid)
    assert json.loads(invoke(executor, {}).payload)["pid"] != pid


def test_process_that_dies_after_reporting_an_error_is_replaced_transparently(executor_factory):
    executor = executor_factory(timeout=10)
    first = invoke(executor, {"action": "die-after-error"})
    assert first.is_error is True
    assert json.loads(first.payload) == {"errorMessage": "panic", "errorType": "Panic"}
    pid = json.loads(invoke(executor, {}).payload)["pid"]
    again = invoke(executor, {})
    assert again.is_error is False
    assert json.loads(again.payload)["pid"] == pid


def test_init_error_fails_start_with_the_runtime_payload(executor_factory):
    executor = executor_factory(start=False, environment={"FAKE_INIT": "init-error"})
    with pytest.raises(StatusErrorException) as raised:
        executor.start(computed_env(executor.function_version))
    assert json.loads(raised.value.payload) == {"errorMessage": "cannot load config", "errorType": "ConfigError"}
    assert "init output" in executor.get_logs()
    executor.stop()


def test_exit_before_next_fails_start_fast(executor_factory):
    executor = executor_factory(start=False, environment={"FAKE_INIT": "exit"})
    started = time.monotonic()
    with pytest.raises(StatusErrorException) as raised:
        executor.start(computed_env(executor.function_version))
    assert time.monotonic() - started < 5
    assert json.loads(raised.value.payload) == {
        "errorType": "Runtime.ExitError",
        "errorMessage": "Error: Runtime exited with error: exit status 5",
    }
    assert "exiting during init" in executor.get_logs()


def test_stop_during_startup_interrupts_start(executor_factory):
    executor = executor_factory(start=False, environment={"FAKE_INIT": "slow"})
    threading.Timer(0.5, executor.stop).start()
    started = time.monotonic()
    with pytest.raises(ShutdownDuringStartup):
        executor.start(computed_env(executor.function_version))
    assert time.monotonic() - started < 5


def test_stop_during_an_invocation_cancels_it(executor_factory):
    executor = executor_factory(timeout=30)
    invoke(executor, {})
    pid = bootstrap_pid(executor)
    threading.Timer(0.5, executor.stop).start()
    with pytest.raises(CancelledError):
        invoke(executor, {"action": "sleep", "seconds": 20})
    assert wait_gone(pid)


def test_describe_exit_matches_go():
    assert describe_exit(0) == "exit status 0"
    assert describe_exit(2) == "exit status 2"
    assert describe_exit(-signal.SIGKILL) == "signal: killed"
    assert describe_exit(-signal.SIGSEGV) == "signal: segmentation fault"


# --- reuse, concurrency, cleanup -------------------------------------------------------------


def test_environment_is_reused_between_invocations(executor_factory):
    executor = executor_factory()
    results = [json.loads(invoke(executor, {}).payload) for _ in range(3)]
    assert len({result["pid"] for result in results}) == 1
    assert [result["count"] for result in results] == [1, 2, 3]


def test_two_environments_are_two_processes_running_concurrently(executor_factory, function_factory):
    version = function_factory(timeout=10)
    first, second = executor_factory(version), executor_factory(version)
    assert bootstrap_pid(first) != bootstrap_pid(second)
    assert first._runtime.server.address != second._runtime.server.address

    results = {}

    def run(name, executor):
        results[name] = invoke(executor, {"action": "sleep", "seconds": 1}, request_id=name)

    started = time.monotonic()
    threads = [threading.Thread(target=run, args=(n, e)) for n, e in (("a", first), ("b", second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert time.monotonic() - started < 1.8, "the two invocations must run in parallel"
    assert json.loads(results["a"].payload)["pid"] == bootstrap_pid(first)
    assert json.loads(results["b"].payload)["pid"] == bootstrap_pid(second)
    assert "for a " in results["a"].logs and "for b " not in results["a"].logs
    assert "for b " in results["b"].logs and "for a " not in results["b"].logs


def test_stop_kills_the_whole_process_group(executor_factory):
    executor = executor_factory(environment={"FAKE_INIT": "grandchild"})
    pid = bootstrap_pid(executor)
    result = invoke(executor, {})
    grandchild = int(re.search(r"grandchild=(\d+)", result.logs).group(1))
    assert is_running(pid) and is_running(grandchild)
    executor.stop()
    assert not is_running(pid)
    assert wait_gone(grandchild), "processes the bootstrap started must die with it"
    executor.stop()  # idempotent


def test_all_executors_are_stopped_by_the_shutdown_hook(executor_factory):
    from lanyard_executor.hooks import lanyard_stop_process_environments

    executors = [executor_factory(), executor_factory()]
    pids = [bootstrap_pid(executor) for executor in executors]
    lanyard_stop_process_environments()
    assert all(wait_gone(pid) for pid in pids)


CHILD_SCRIPT = textwrap.dedent(
    """
    import sys, threading, time, uuid
    sys.path.insert(0, {tests!r})
    from conftest import computed_env, invoke, make_function_version
    from pathlib import Path
    from lanyard_executor.executor import ProcessRuntimeExecutor

    version = make_function_version(Path({code!r}), timeout=900)
    ProcessRuntimeExecutor.prepare_version(version)
    executor = ProcessRuntimeExecutor(uuid.uuid4().hex, version)
    executor.start(computed_env(version))
    # keep the runtime busy, so that it does not notice its Runtime API going away
    threading.Thread(target=invoke, args=(executor, {{"action": "sleep", "seconds": 600}}), daemon=True).start()
    while "action=sleep" not in executor.get_logs():
        time.sleep(0.01)
    print(executor._runtime.process.pid, flush=True)
    time.sleep(600)
    """
)


def test_bootstrap_dies_when_localstack_is_killed(function_factory, tmp_path):
    """SIGKILL leaves no chance for cleanup code: the parent-death signal must do it."""
    version = function_factory()
    code = str(version.config.code.get_unzipped_code_location())
    script = CHILD_SCRIPT.format(tests=str(Path(__file__).parent), code=code)
    # the killed host cannot delete its environment's temporary folder: keep it in tmp_path
    host = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ, TMPDIR=str(tmp_path)),
    )
    try:
        pid = int(host.stdout.readline())
        assert is_running(pid)
        host.kill()
        host.wait(5)
        assert wait_gone(pid), "the bootstrap outlived its host process"
    finally:
        host.kill()
        host.wait(5)


def test_log_collector_bounds_what_it_keeps():
    from lanyard_executor.process import LogCollector

    collector = LogCollector(history_limit=100, pending_limit=50)
    for index in range(10):
        collector.write(f"line {index:02d} ......\n")  # 15 characters each
    taken = collector.take()
    assert taken.startswith("[105 characters of output dropped]\n")
    assert taken.endswith("line 09 ......\n") and "line 06" not in taken
    assert collector.take() == ""
    assert len(collector.history()) <= 100 and collector.history().endswith("line 09 ......\n")
