"""The gateway bind patch, against LocalStack's twisted runtime server in process (no reactor run)."""

import pytest

from lanyard_executor import gateway_bind_patch
from localstack.config import HostAndPort
from localstack.runtime.server import twisted as server
from rolo.gateway import Gateway


class RecordingEndpoints:
    """Stands in for twisted.internet.endpoints: records each endpoint asked for."""

    def __init__(self):
        self.calls = []

    def TCP4ServerEndpoint(self, reactor, port, *args, **kwargs):  # noqa: N802
        self.calls.append(("tcp4", port, kwargs.get("interface")))
        return self

    def TCP6ServerEndpoint(self, reactor, port, *args, **kwargs):  # noqa: N802
        self.calls.append(("tcp6", port, kwargs.get("interface")))
        return self

    def listen(self, factory):
        return None


@pytest.fixture
def endpoints(monkeypatch):
    recording = RecordingEndpoints()
    monkeypatch.setattr(server, "endpoints", recording)
    yield recording
    gateway_bind_patch.undo()


def register(listen):
    server.TwistedRuntimeServer().register(Gateway(), listen, None)


def test_without_the_patch_localstack_listens_on_every_interface(endpoints):
    register([HostAndPort("127.0.0.1", 4566)])
    assert endpoints.calls == [("tcp4", 4566, None)]


def test_the_patch_binds_each_ipv4_address_to_its_interface(endpoints):
    assert gateway_bind_patch.apply()
    assert not gateway_bind_patch.apply()  # once
    register([HostAndPort("127.0.0.1", 4566), HostAndPort("127.0.0.2", 4567), HostAndPort("::1", 4568)])
    assert endpoints.calls == [
        ("tcp4", 4566, "127.0.0.1"),
        ("tcp4", 4567, "127.0.0.2"),
        ("tcp6", 4568, "::1"),
    ]
    # The real endpoints module is back once register has returned.
    assert server.endpoints is endpoints


def test_a_host_name_is_left_as_localstack_would(endpoints):
    gateway_bind_patch.apply()
    register([HostAndPort("localhost.localstack.cloud", 4566)])
    assert endpoints.calls == [("tcp4", 4566, None)]


def test_undo_restores_localstacks_register(endpoints):
    original = server.TwistedRuntimeServer.register
    gateway_bind_patch.apply()
    assert server.TwistedRuntimeServer.register is not original
    gateway_bind_patch.undo()
    assert server.TwistedRuntimeServer.register is original
