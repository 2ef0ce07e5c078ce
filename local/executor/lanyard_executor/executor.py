"""LocalStack runtime executor that runs each Lambda execution environment as a host process.

LocalStack's ``ExecutionEnvironment`` talks to its executor only through the
``RuntimeExecutor`` interface: ``start(env_vars)`` must return once the
environment can take an invocation (or raise), ``invoke(payload)`` must return
the ``InvocationResult``, ``stop()`` must tear everything down.  The Docker
executor satisfies that by running LocalStack's init in a container, which
calls back over HTTP (``ExecutorEndpoint``: status ready/error, response,
error, logs).  This executor has no container and no init: it *is* the init.
It serves the Lambda Runtime API itself and resolves the same events in
process, so nothing is registered on LocalStack's ``/_localstack_lambda`` routes:

* ready: the bootstrap's first ``GET /runtime/invocation/next``;
* init failure: ``POST /runtime/init/error``, or the bootstrap exiting before
  its first ``/next``; ``start()`` then raises LocalStack's own
  ``StatusErrorException`` with the error payload, which LocalStack's version
  manager turns into a failed invocation, exactly like a ``status/error``
  callback from the container init;
* startup timeout: LocalStack's startup timer calls ``stop()``, which wakes
  ``start()``; it raises ``ShutdownDuringStartup`` like the Docker executor;
* results: ``InvocationResult(request_id, payload bytes, is_error, logs)``,
  with the logs framed by START/END/REPORT lines as the container init does,
  so LocalStack writes them to CloudWatch Logs ``/aws/lambda/<name>``.

Function timeouts, crashes and re-initialisation are handled here, the way the
Lambda runtime interface (rapid) inside LocalStack's init handles them: after
a timeout or a crash the process group is killed and the next invocation of
the same environment starts a new bootstrap (a "suppressed init").
"""

from __future__ import annotations

import atexit
import json
import logging
import math
import os
import shutil
import stat
import tempfile
import threading
import time
import weakref
from concurrent.futures import CancelledError
from datetime import datetime, timezone
from pathlib import Path

from localstack import config
from localstack.aws.api.lambda_ import PackageType
from localstack.services.lambda_.invocation.executor_endpoint import (
    ShutdownDuringStartup,
    StatusErrorException,
)
from localstack.services.lambda_.invocation.lambda_models import FunctionVersion, InvocationResult
from localstack.services.lambda_.invocation.runtime_executor import (
    LambdaRuntimeException,
    RuntimeExecutor,
)

from .environment import build_environment
from .process import LogCollector, RuntimeProcess, describe_exit
from .runtime_api import (
    DEFAULT_MAX_RESPONSE_BYTES,
    Invocation,
    Outcome,
    RuntimeApiServer,
    RuntimeBroker,
    WaitResult,
)

LOG = logging.getLogger(__name__)

BOOTSTRAP = "bootstrap"

# Every executor that may own a process, so that LocalStack's shutdown (and, as a
# last resort, interpreter exit) can stop them all.
_LIVE_EXECUTORS: "weakref.WeakSet[ProcessRuntimeExecutor]" = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


def stop_all_executors() -> None:
    """Stops every live execution environment; safe to call more than once."""
    with _LIVE_LOCK:
        executors = list(_LIVE_EXECUTORS)
    for executor in executors:
        try:
            executor.stop()
        except Exception:
            LOG.exception("Failed to stop execution environment %s", executor.id)


atexit.register(stop_all_executors)


def localstack_host_for_functions() -> str:
    """The address a host process reaches LocalStack's gateway at."""
    host = config.GATEWAY_LISTEN[0].host
    if host in ("", "0.0.0.0", "::", "[::]"):
        return "127.0.0.1"
    return host


def _compact_json(value: dict) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


class _Runtime:
    """One bootstrap process, its Runtime API server and broker."""

    def __init__(
        self, process: RuntimeProcess | None, server: RuntimeApiServer, broker: RuntimeBroker
    ):
        self.process = process
        self.server = server
        self.broker = broker
        self.started = time.monotonic()
        self.init_duration_ms: float | None = None  # reported once, on its first invocation

    def close(self) -> None:
        self.server.stop()  # closes the broker, waking every waiter
        if self.process is not None:
            self.process.close()


class ProcessRuntimeExecutor(RuntimeExecutor):
    """Runs a function's ``bootstrap`` as a host process (custom runtimes: provided.al2023, provided.al2)."""

    def __init__(self, id: str, function_version: FunctionVersion) -> None:
        super().__init__(id=id, function_version=function_version)
        self._lock = threading.Lock()
        self._invoke_lock = threading.Lock()
        self._stopped = threading.Event()
        self._runtime: _Runtime | None = None
        self._base_env: dict[str, str] | None = None
        self._tmp_dir: str | None = None
        self._logs = LogCollector()
        self.label = f"{function_version.id.function_name}-{id[:8]}"

    # --- RuntimeExecutor: addresses -------------------------------------------------------

    def get_address(self) -> str:
        return "127.0.0.1"

    def get_endpoint_from_executor(self) -> str:
        return localstack_host_for_functions()

    def get_runtime_endpoint(self) -> str:
        # Only LocalStack's container init would call this back; functions never see it.
        return (
            f"http://{self.get_endpoint_from_executor()}:{config.GATEWAY_LISTEN[0].port}"
            f"/_localstack_lambda/{self.id}"
        )

    # --- RuntimeExecutor: lifecycle -------------------------------------------------------

    def start(self, env_vars: dict[str, str]) -> None:
        if self._stopped.is_set():
            raise ShutdownDuringStartup("Execution environment stopped before it started")
        with _LIVE_LOCK:
            _LIVE_EXECUTORS.add(self)
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        self._tmp_dir = tempfile.mkdtemp(prefix=f"lanyard-lambda-{self.label}-")
        self._base_env = build_environment(
            computed=env_vars,
            function_env=self.function_version.config.environment,
            code_dir=code_dir,
            tmp_dir=self._tmp_dir,
            runtime_api="",  # set per process
            logging_config=self.function_version.config.logging_config,
        )
        runtime, state = self._start_runtime(deadline=None)
        if state == WaitResult.READY:
            return
        if state == WaitResult.CLOSED:
            raise ShutdownDuringStartup("Execution environment stopped during startup")
        payload = self._init_failure_payload(runtime, state, request_id=None)
        self._discard_runtime(runtime)
        LOG.warning(
            "Function %s failed to initialise: %s. Output:\n%s",
            self.function_version.qualified_arn,
            payload.decode(errors="replace"),
            self._logs.history(),
        )
        raise StatusErrorException("Environment startup failed", payload=payload)

    def stop(self) -> None:
        self._stopped.set()
        with self._lock:
            runtime, self._runtime = self._runtime, None
        if runtime is not None:
            runtime.close()
        if self._tmp_dir:
            shutil.rmtree(self._tmp_dir, ignore_errors=True)
        with _LIVE_LOCK:
            _LIVE_EXECUTORS.discard(self)

    def get_logs(self) -> str:
        return self._logs.history()

    # --- RuntimeExecutor: invoke ----------------------------------------------------------

    def invoke(self, payload: dict[str, str]) -> InvocationResult:
        with self._invoke_lock:
            if self._stopped.is_set():
                raise CancelledError("Execution environment is stopped")
            timeout = self.function_version.config.timeout
            request_id = payload["invoke-id"]
            started = time.monotonic()
            deadline = started + timeout
            invocation = Invocation(
                request_id=request_id,
                payload=(payload.get("payload") or "").encode(),
                deadline_ms=int((time.time() + timeout) * 1000),
                invoked_function_arn=payload.get("invoked-function-arn") or "",
                trace_id=payload.get("trace-id"),
                client_context=payload.get("client-context"),
                cognito_identity=payload.get("cognito-identity"),
            )
            self._logs.write(
                f"START RequestId: {request_id} Version: {self.function_version.id.qualifier}\n"
            )
            outcome, runtime, status = self._deliver(invocation, deadline)
            if runtime is not None and runtime.process is not None:
                runtime.process.output.flush()
            if status == "timeout":
                now = datetime.now(timezone.utc)
                self._logs.write(
                    f"{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z {request_id} "
                    f"Task timed out after {timeout:.2f} seconds\n"
                )
            elif status == "exit":
                error = json.loads(outcome.payload)
                self._logs.write(f"{error['errorMessage']}\n{error['errorType']}\n")
            self._write_end_report(invocation, started, timeout, runtime, status, outcome)
            return InvocationResult(
                request_id=request_id,
                payload=outcome.payload,
                is_error=outcome.is_error,
                logs=self._logs.take(),
            )

    def _deliver(
        self, invocation: Invocation, deadline: float
    ) -> tuple[Outcome, _Runtime | None, str]:
        """Gets an answer for the invocation: (outcome, runtime that served it, status)."""
        retried = False
        while True:
            with self._lock:
                runtime = self._runtime
            if runtime is None or not runtime.broker.alive:
                if runtime is not None:
                    self._discard_runtime(runtime)
                runtime, state = self._start_runtime(deadline)
                if state == WaitResult.CLOSED:
                    raise CancelledError("Execution environment stopped during invocation")
                if state == WaitResult.TIMEOUT:
                    self._discard_runtime(runtime)
                    return self._timeout_outcome(invocation), runtime, "timeout"
                if state != WaitResult.READY:
                    outcome = Outcome(
                        self._init_failure_payload(runtime, state, invocation.request_id),
                        is_error=True,
                    )
                    self._discard_runtime(runtime)
                    return outcome, runtime, "exit" if state == WaitResult.EXITED else "error"

            broker = runtime.broker
            broker.submit(invocation)
            state = broker.wait_outcome(invocation, deadline)
            if state == WaitResult.ANSWERED:
                return invocation.outcome, runtime, "error" if invocation.outcome.is_error else "ok"
            if state == WaitResult.CLOSED:
                raise CancelledError("Execution environment stopped during invocation")
            if state == WaitResult.TIMEOUT:
                broker.withdraw(invocation)
                self._discard_runtime(runtime)
                return self._timeout_outcome(invocation), runtime, "timeout"
            # The process exited.  If it never fetched the invocation (it was already on
            # its way out, e.g. aws-lambda-go exits right after reporting a panic), the
            # invocation is handed to a fresh process once.
            if broker.withdraw(invocation) and not retried:
                retried = True
                continue
            outcome = Outcome(self._exit_payload(broker.exit_code, invocation.request_id), True)
            self._discard_runtime(runtime)
            return outcome, runtime, "exit"

    # --- helpers --------------------------------------------------------------------------

    def _start_runtime(self, deadline: float | None) -> tuple[_Runtime, str]:
        """Starts a bootstrap and waits until it asks for work (or fails to)."""
        code_dir = str(self.function_version.config.code.get_unzipped_code_location())
        broker = RuntimeBroker(max_response_bytes=self._max_response_bytes())
        server = RuntimeApiServer(broker, label=self.label).start()
        env = dict(self._base_env or {})
        env["AWS_LAMBDA_RUNTIME_API"] = server.address
        bootstrap = os.path.join(code_dir, BOOTSTRAP)
        try:
            process = RuntimeProcess(
                argv=[bootstrap],
                env=env,
                cwd=code_dir,
                collector=self._logs,
                on_exit=broker.runtime_exited,
                label=self.label,
            )
        except OSError as e:
            # e.g. a binary built for another OS or architecture ("exec format error")
            server.stop()
            broker.init_error = _compact_json(
                {
                    "errorType": "Runtime.InvalidEntrypoint",
                    "errorMessage": f"Error: fork/exec {bootstrap}: {(e.strerror or str(e)).lower()}",
                }
            )
            LOG.warning("Could not start %s: %s", bootstrap, e)
            return _Runtime(None, server, broker), WaitResult.INIT_ERROR
        runtime = _Runtime(process, server, broker)
        with self._lock:
            stopped = self._stopped.is_set()
            if not stopped:
                self._runtime = runtime
        if stopped:
            runtime.close()
            return runtime, WaitResult.CLOSED
        LOG.debug("Started bootstrap pid %s for %s", process.pid, self.function_version.qualified_arn)
        state = broker.wait_initialized(deadline)
        if state == WaitResult.READY:
            runtime.init_duration_ms = (time.monotonic() - runtime.started) * 1000
        return runtime, state

    def _discard_runtime(self, runtime: _Runtime) -> None:
        with self._lock:
            if self._runtime is runtime:
                self._runtime = None
        runtime.close()

    def _init_failure_payload(self, runtime: _Runtime, state: str, request_id: str | None) -> bytes:
        if state == WaitResult.INIT_ERROR:
            return runtime.broker.init_error or b""
        if state == WaitResult.EXITED:
            return self._exit_payload(runtime.broker.exit_code, request_id)
        return _compact_json({"errorType": "Runtime.Unknown", "errorMessage": f"Init failed: {state}"})

    @staticmethod
    def _exit_payload(exit_code: int | None, request_id: str | None) -> bytes:
        if exit_code == 0:
            reason = "Runtime exited without providing a reason"
        else:
            reason = f"Runtime exited with error: {describe_exit(exit_code if exit_code is not None else -9)}"
        message = f"RequestId: {request_id} Error: {reason}" if request_id else f"Error: {reason}"
        return _compact_json({"errorType": "Runtime.ExitError", "errorMessage": message})

    def _timeout_outcome(self, invocation: Invocation) -> Outcome:
        # Byte for byte what LocalStack's container init returns on a timeout.
        message = (
            f"{datetime.now(timezone.utc):%Y-%m-%dT%H:%M:%SZ} {invocation.request_id} "
            f"Task timed out after {self.function_version.config.timeout:.2f} seconds"
        )
        return Outcome(_compact_json({"errorMessage": message}), is_error=True)

    def _write_end_report(
        self,
        invocation: Invocation,
        started: float,
        timeout: int,
        runtime: _Runtime | None,
        status: str,
        outcome: Outcome,
    ) -> None:
        duration_ms = min(time.monotonic() - started, float(timeout)) * 1000
        memory = self.function_version.config.memory_size
        report = (
            f"REPORT RequestId: {invocation.request_id}\t"
            f"Duration: {duration_ms:.2f} ms\t"
            f"Billed Duration: {math.ceil(duration_ms)} ms\t"
            f"Memory Size: {memory} MB\t"
            f"Max Memory Used: {memory} MB\t"
        )
        if runtime is not None and runtime.init_duration_ms is not None:
            report += f"Init Duration: {runtime.init_duration_ms:.2f} ms\t"
            runtime.init_duration_ms = None
        if status == "timeout":
            report += "Status: timeout\t"
        elif status == "exit":
            report += "Status: error\tError Type: Runtime.ExitError\t"
        self._logs.write(f"END RequestId: {invocation.request_id}\n{report}\n")

    @staticmethod
    def _max_response_bytes() -> int:
        return int(config.LAMBDA_LIMITS_MAX_FUNCTION_PAYLOAD_SIZE_BYTES or DEFAULT_MAX_RESPONSE_BYTES)

    # --- RuntimeExecutor: version preparation ---------------------------------------------

    @classmethod
    def prepare_version(cls, function_version: FunctionVersion) -> None:
        fn_config = function_version.config
        if fn_config.package_type != PackageType.Zip or not fn_config.code:
            raise LambdaRuntimeException(
                "The lanyard-process executor runs .zip functions only, not container images"
            )
        fn_config.code.prepare_for_execution()  # unzips the archive once per code revision
        bootstrap = Path(fn_config.code.get_unzipped_code_location()) / BOOTSTRAP
        if not bootstrap.is_file():
            raise LambdaRuntimeException(
                f"The lanyard-process executor needs an executable '{BOOTSTRAP}' at the root of the "
                f"code of {function_version.qualified_arn} (runtime {fn_config.runtime})"
            )
        mode = bootstrap.stat().st_mode
        if mode & 0o111 != 0o111:
            # zip extraction does not always keep the executable bit
            bootstrap.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        if fn_config.layers:
            LOG.warning(
                "Function %s has layers; the lanyard-process executor ignores them",
                function_version.qualified_arn,
            )

    @classmethod
    def cleanup_version(cls, function_version: FunctionVersion) -> None:
        # The unzipped code belongs to LocalStack's code cache, which deletes it with the
        # code; environments of the version are stopped by LocalStack before this is called.
        pass

    @classmethod
    def validate_environment(cls) -> bool:
        return True
