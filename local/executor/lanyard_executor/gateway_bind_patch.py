"""LocalStack's gateway listens on the host GATEWAY_LISTEN names (LocalStack 4.7.0 ignores it).

The defect: LocalStack's default gateway server (``GATEWAY_SERVER=twisted``,
runtime/server/twisted.py) opens each IPv4 address of ``GATEWAY_LISTEN`` with
``endpoints.TCP4ServerEndpoint(reactor, port)`` and no ``interface``, so
``GATEWAY_LISTEN=127.0.0.1:4566`` listens on 0.0.0.0:4566: every interface of
the machine.  LocalStack checks no credentials, so anyone who can reach the
machine could read and change everything in it.  (IPv6 addresses already get
their interface; the hypercorn server binds as asked.)

The patch wraps ``TwistedRuntimeServer.register``: while it runs, the server
module's ``endpoints`` is a proxy whose ``TCP4ServerEndpoint`` adds
``interface=<host>`` for the port of each IPv4 literal in the listen list.
Everything else about the server is LocalStack's own.  A host that is not an
IPv4 literal (a name) is passed through unchanged, as LocalStack would.
"""

import ipaddress

_original_register = None


def apply() -> bool:
    """Applies the patch once; returns False if it was already applied."""
    global _original_register
    if _original_register is not None:
        return False
    from localstack.runtime.server import twisted as server

    _original_register = server.TwistedRuntimeServer.register
    server.TwistedRuntimeServer.register = _register
    return True


def undo() -> None:
    """Removes the patch (for tests)."""
    global _original_register
    if _original_register is None:
        return
    from localstack.runtime.server import twisted as server

    server.TwistedRuntimeServer.register = _original_register
    _original_register = None


def interfaces(listen) -> dict[int, str]:
    """The IPv4 literal host to bind, by port, of a GATEWAY_LISTEN list."""
    out = {}
    for host_and_port in listen:
        try:
            address = ipaddress.ip_address(host_and_port.host)
        except ValueError:
            continue
        if address.version == 4:
            out[host_and_port.port] = str(address)
    return out


class _BoundEndpoints:
    """Stands in for twisted.internet.endpoints inside register: binds IPv4 listeners."""

    def __init__(self, real, hosts: dict[int, str]):
        self._real = real
        self._hosts = hosts

    def __getattr__(self, name):
        return getattr(self._real, name)

    def TCP4ServerEndpoint(self, reactor, port, *args, **kwargs):  # noqa: N802 (Twisted's name)
        if not args and "interface" not in kwargs and port in self._hosts:
            kwargs["interface"] = self._hosts[port]
        return self._real.TCP4ServerEndpoint(reactor, port, *args, **kwargs)


def _register(self, gateway, listen, ssl_creds=None):
    from localstack.runtime.server import twisted as server

    real = server.endpoints
    server.endpoints = _BoundEndpoints(real, interfaces(listen))
    try:
        return _original_register(self, gateway, listen, ssl_creds)
    finally:
        server.endpoints = real
