"""LocalStack runtime hooks of this package (registered as plux entry points in pyproject.toml)."""

import logging
import sys

from localstack.runtime import hooks

LOG = logging.getLogger(__name__)


@hooks.on_infra_start()
def lanyard_patch_rotate_secret() -> None:
    """Makes RotateSecret with RotateImmediately=false work as on AWS (see secretsmanager_patch)."""
    from localstack.version import __version__

    from lanyard_executor import secretsmanager_patch

    if secretsmanager_patch.apply():
        LOG.info(
            "lanyard: patched Secrets Manager RotateSecret (RotateImmediately=false) on LocalStack %s",
            __version__,
        )


@hooks.on_infra_start()
def lanyard_bind_gateway() -> None:
    """Makes the gateway listen on GATEWAY_LISTEN's host only (see gateway_bind_patch)."""
    from lanyard_executor import gateway_bind_patch

    if gateway_bind_patch.apply():
        LOG.info("lanyard: patched the gateway server to listen on GATEWAY_LISTEN's host only")


@hooks.on_infra_shutdown()
def lanyard_stop_process_environments() -> None:
    """Kills the bootstrap processes of every execution environment still running."""
    executor = sys.modules.get("lanyard_executor.executor")
    if executor is not None:
        executor.stop_all_executors()
