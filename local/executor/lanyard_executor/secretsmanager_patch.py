"""RotateSecret with RotateImmediately=false, as AWS does it (LocalStack 4.7.0 fails it).

The defect: LocalStack replaces moto's ``SecretsManagerBackend.rotate_secret``
with its own ``backend_rotate_secret`` (services/secretsmanager/provider.py).
With ``rotate_immediately=False`` that function validates the request and
stores the rotation configuration, then ends with
``return secret.to_short_dict(version_id=new_version_id)``, but
``new_version_id`` is only assigned inside ``if rotate_immediately:``.  The
UnboundLocalError reaches the client as ``InternalError``.  On its way it has
also set LastRotatedDate, although nothing was rotated, and it never runs the
rotation function.

What AWS does (API reference, RotateSecret, RotateImmediately): "If you don't
immediately rotate the secret, Secrets Manager tests the rotation configuration
by running the testSecret step of the Lambda rotation function. The test
creates an AWSPENDING version of the secret and then removes it."

The patch wraps LocalStack's function (LocalStack's provider module is imported
first, so its own patch is in place and ours goes around it):

* RotateImmediately true or absent: LocalStack's code, untouched.
* RotateImmediately false:
  1. if a previous rotation is unfinished (AWSPENDING on a version that is not
     AWSCURRENT), InvalidRequestException, before anything changes: the same
     check LocalStack's immediate path makes;
  2. LocalStack's code validates the request and stores the configuration
     (rotation Lambda ARN, rules, NextRotationDate, RotationEnabled); the
     UnboundLocalError at its very end is caught, and LastRotatedDate is put
     back to what it was;
  3. the testSecret step: an AWSPENDING version holding a copy of the current
     value is added under ClientRequestToken (or a fresh UUID), the rotation
     function is invoked once with {"Step": "testSecret", "SecretId": <secret
     ARN>, "ClientRequestToken": <that version id>}, and the version is
     deleted again whatever the outcome.  A failing test is logged, not raised:
     on AWS the test runs after RotateSecret has answered;
  4. the response carries ARN and Name; no VersionId, since no new version is left.

If a later LocalStack returns normally from step 2, its answer is returned
unchanged and the patch does nothing else.
"""

from __future__ import annotations

import copy
import json
import logging
import time

LOG = logging.getLogger(__name__)

_applied_patch = None


def apply() -> bool:
    """Applies the patch once; returns False if it was already applied."""
    global _applied_patch
    if _applied_patch is not None:
        return False

    # Import LocalStack's provider first: importing it applies LocalStack's own patch of
    # rotate_secret, which ours must wrap (and never the other way round).
    import localstack.services.secretsmanager.provider  # noqa: F401
    from moto.secretsmanager.models import SecretsManagerBackend

    from localstack.utils.patch import Patch

    _applied_patch = Patch.function(SecretsManagerBackend.rotate_secret, rotate_secret)
    _applied_patch.apply()
    return True


def undo() -> None:
    """Removes the patch (for tests)."""
    global _applied_patch
    if _applied_patch is not None:
        _applied_patch.undo()
        _applied_patch = None


def rotate_secret(
    localstack_rotate_secret,
    self,
    secret_id,
    client_request_token=None,
    rotation_lambda_arn=None,
    rotation_rules=None,
    rotate_immediately=True,
):
    if rotate_immediately:
        return localstack_rotate_secret(
            self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules, rotate_immediately
        )

    from localstack.aws.api.secretsmanager import InvalidRequestException
    from localstack.services.secretsmanager.provider import AWSCURRENT, AWSPENDING

    # 1. an unfinished rotation blocks a new one (checked before anything is stored)
    secret = self.secrets[secret_id] if self._is_valid_identifier(secret_id) else None
    if secret is not None and any(
        AWSPENDING in version["version_stages"] and AWSCURRENT not in version["version_stages"]
        for version in secret.versions.values()
    ):
        raise InvalidRequestException("Previous rotation request is still in progress.")

    # 2. LocalStack validates and stores the configuration, then trips over new_version_id
    last_rotation_date = getattr(secret, "last_rotation_date", None)
    try:
        return localstack_rotate_secret(
            self, secret_id, client_request_token, rotation_lambda_arn, rotation_rules, False
        )
    except UnboundLocalError as e:
        if "new_version_id" not in str(e):
            raise
    secret = self.secrets[secret_id]
    secret.last_rotation_date = last_rotation_date

    # 3. the testSecret step against a temporary AWSPENDING copy of the current value
    _run_test_step(self, secret, client_request_token)

    # 4. no new version remains
    return secret.to_short_dict(include_version_id=False)


def _run_test_step(backend, secret, client_request_token) -> None:
    from localstack.aws.connect import connect_to
    from localstack.services.secretsmanager.provider import AWSCURRENT, AWSPENDING

    version_id = backend._from_client_request_token(client_request_token)
    created = version_id not in secret.versions
    if created:
        current = secret.versions.get(secret.default_version_id) or {}
        pending = {
            key: copy.deepcopy(value)
            for key, value in current.items()
            if key in ("secret_string", "secret_binary")
        }
        pending.update(
            {"createdate": int(time.time()), "version_id": version_id, "version_stages": [AWSPENDING]}
        )
        secret.remove_version_stages_from_old_versions([AWSPENDING])
        secret.versions[version_id] = pending
    try:
        lambda_client = connect_to(region_name=backend.region_name).lambda_
        response = lambda_client.invoke(
            FunctionName=secret.rotation_lambda_arn,
            Payload=json.dumps(
                {"Step": "testSecret", "SecretId": secret.arn, "ClientRequestToken": version_id}
            ),
        )
        if response.get("FunctionError"):
            error = response["Payload"].read().decode(errors="replace")
            LOG.warning(
                "testSecret step of %s failed for secret %s: %s",
                secret.rotation_lambda_arn,
                secret.name,
                error,
            )
    except Exception as e:
        LOG.warning(
            "testSecret step of %s could not run for secret %s: %s",
            secret.rotation_lambda_arn,
            secret.name,
            e,
        )
    finally:
        version = secret.versions.get(version_id)
        if created and version is not None and AWSCURRENT not in version["version_stages"]:
            del secret.versions[version_id]
