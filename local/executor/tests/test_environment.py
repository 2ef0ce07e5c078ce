"""The bootstrap's environment: computed by LocalStack, filtered, completed as Lambda would."""

from lanyard_executor.environment import build_environment


def _build(**kwargs):
    args = dict(
        computed={"AWS_REGION": "us-east-1", "LOCALSTACK_RUNTIME_ID": "x", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128},
        function_env={"TABLE": "t"},
        code_dir="/code",
        tmp_dir="/tmp/env",
        runtime_api="127.0.0.1:9001",
        host_env={"PATH": "/bin", "SECRET_OF_THE_HOST": "no", "LANYARD_LOG_LEVEL": "debug"},
    )
    args.update(kwargs)
    return build_environment(**args)


def test_computed_values_kept_init_only_dropped_host_not_inherited():
    env = _build()
    assert env["AWS_REGION"] == "us-east-1"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "128"
    assert "LOCALSTACK_RUNTIME_ID" not in env
    assert "SECRET_OF_THE_HOST" not in env
    assert env["LANYARD_LOG_LEVEL"] == "debug"
    assert env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert env["LAMBDA_TASK_ROOT"] == "/code"


def test_json_logging_config_sets_the_lambda_log_variables():
    env = _build(logging_config={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"})
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert env["AWS_LAMBDA_LOG_LEVEL"] == "DEBUG"


def test_text_logging_config_sets_no_level():
    env = _build(logging_config={"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"})
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "Text"
    assert "AWS_LAMBDA_LOG_LEVEL" not in env


def test_no_logging_config_sets_nothing():
    env = _build(logging_config={})
    assert "AWS_LAMBDA_LOG_FORMAT" not in env
    assert "AWS_LAMBDA_LOG_LEVEL" not in env
