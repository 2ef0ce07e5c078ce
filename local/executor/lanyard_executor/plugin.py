"""plux plugin that offers the executor to LocalStack as LAMBDA_RUNTIME_EXECUTOR=lanyard-process.

Kept free of heavy imports: plux loads this module while it discovers plugins.
"""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin

EXECUTOR_NAME = "lanyard-process"


class LanyardProcessExecutorPlugin(RuntimeExecutorPlugin):
    name = EXECUTOR_NAME

    def load(self, *args, **kwargs):
        from lanyard_executor.executor import ProcessRuntimeExecutor

        return ProcessRuntimeExecutor
