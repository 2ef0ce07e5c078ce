"""The environment variables a bootstrap process starts with.

The process does not inherit LocalStack's environment.  It gets, in order
(later steps win):

1. ``PATH``, ``HOME``, ``LANG`` from LocalStack's own environment (the
   allow-list; ``TMPDIR`` is set in step 4 instead);
2. the variables LocalStack computes for the execution environment (the
   ``env_vars`` handed to ``RuntimeExecutor.start``: AWS_REGION,
   AWS_LAMBDA_FUNCTION_NAME, credentials, _HANDLER, AWS_ENDPOINT_URL, the
   function's own Environment.Variables, ...), minus the ``LOCALSTACK_*``
   variables that only LocalStack's in-container init reads (that init removes
   them before it starts a runtime, so functions never see them on AWS-like
   LocalStack either);
3. for local runs, every variable of LocalStack's own environment whose name
   starts with ``LANYARD_`` or ``AWS_ENDPOINT_URL`` (so also the per-service
   ``AWS_ENDPOINT_URL_<SERVICE>``), or is ``AWS_XRAY_DAEMON_ADDRESS``, unless
   the function's configuration sets that name itself.  These override
   LocalStack's computed defaults (AWS_ENDPOINT_URL, AWS_XRAY_DAEMON_ADDRESS)
   but never a value the function was deployed with;
4. what the Lambda service itself would set and LocalStack's list lacks or
   sets for a container: ``AWS_LAMBDA_RUNTIME_API`` (our Runtime API server),
   ``LAMBDA_TASK_ROOT`` and ``LAMBDA_RUNTIME_DIR`` (the unzipped code folder
   instead of /var/task and /var/runtime) and ``TMPDIR`` (a private temporary
   folder per execution environment, the counterpart of Lambda's private /tmp,
   deleted when the environment stops);
5. what the Lambda service derives from the function's ``LoggingConfig`` and
   LocalStack 4.7.0 does not pass on: ``AWS_LAMBDA_LOG_FORMAT`` (``JSON`` or
   ``Text``) and, for JSON, ``AWS_LAMBDA_LOG_LEVEL`` from
   ``ApplicationLogLevel`` — the variables aws-lambda-go's lambdacontext
   logger reads.

All values are strings (LocalStack hands some over as ints).
"""

from __future__ import annotations

import os
from typing import Mapping

HOST_ALLOW_LIST = ("PATH", "HOME", "LANG")

PASS_THROUGH_PREFIXES = ("LANYARD_", "AWS_ENDPOINT_URL")
PASS_THROUGH_NAMES = ("AWS_XRAY_DAEMON_ADDRESS",)

# Read by LocalStack's container init only (it unsets them before starting the runtime).
LOCALSTACK_INIT_ONLY = frozenset(
    {
        "LOCALSTACK_RUNTIME_ENDPOINT",
        "LOCALSTACK_RUNTIME_ID",
        "LOCALSTACK_INTEROP_PORT",
        "LOCALSTACK_RUNTIME_TRACING_PORT",
        "LOCALSTACK_USER",
        "LOCALSTACK_CODE_ARCHIVES",
        "LOCALSTACK_HOT_RELOADING_PATHS",
        "LOCALSTACK_ENABLE_XRAY_TELEMETRY",
        "LOCALSTACK_INIT_LOG_LEVEL",
        "LOCALSTACK_POST_INVOKE_WAIT_MS",
        "LOCALSTACK_FUNCTION_ACCOUNT_ID",
        "LOCALSTACK_MAX_PAYLOAD_SIZE",
        "LOCALSTACK_CHMOD_PATHS",
    }
)


def is_pass_through(name: str) -> bool:
    return name.startswith(PASS_THROUGH_PREFIXES) or name in PASS_THROUGH_NAMES


def build_environment(
    computed: Mapping[str, object],
    function_env: Mapping[str, str] | None,
    code_dir: str,
    tmp_dir: str,
    runtime_api: str,
    host_env: Mapping[str, str] | None = None,
    logging_config: Mapping[str, object] | None = None,
) -> dict[str, str]:
    """Returns the environment of a bootstrap process (see the module docstring)."""
    host_env = os.environ if host_env is None else host_env
    function_env = function_env or {}

    env: dict[str, str] = {name: host_env[name] for name in HOST_ALLOW_LIST if name in host_env}

    for name, value in computed.items():
        if name in LOCALSTACK_INIT_ONLY or value is None:
            continue
        env[name] = str(value)

    for name, value in host_env.items():
        if is_pass_through(name) and name not in function_env:
            env[name] = value

    env["AWS_LAMBDA_RUNTIME_API"] = runtime_api
    env["LAMBDA_TASK_ROOT"] = code_dir
    env["LAMBDA_RUNTIME_DIR"] = code_dir
    env["TMPDIR"] = tmp_dir

    log_format = (logging_config or {}).get("LogFormat")
    if log_format in ("JSON", "Text"):
        env["AWS_LAMBDA_LOG_FORMAT"] = str(log_format)
        level = (logging_config or {}).get("ApplicationLogLevel")
        if log_format == "JSON" and level:
            env["AWS_LAMBDA_LOG_LEVEL"] = str(level)
    return env
