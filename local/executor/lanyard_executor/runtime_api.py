"""The Lambda Runtime API, served on a loopback port to one bootstrap process.

https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html

Two pieces:

* ``RuntimeBroker`` holds the state shared by the HTTP handlers (the runtime's
  side) and the executor (LocalStack's side) for one runtime process: whether
  the runtime has initialised, the invocation waiting to be fetched, the one in
  flight and its outcome, an init error, the process's exit.  Everything is
  guarded by a single condition variable, so every waiter wakes on every change.
* ``RuntimeApiServer`` is a threaded ``http.server`` bound to 127.0.0.1 on an
  ephemeral port that translates the Runtime API's HTTP calls into broker calls.
  It decodes chunked request bodies itself, including trailers (aws-lambda-go
  streams responses with ``Transfer-Encoding: chunked`` and may report a
  mid-stream failure in the ``Lambda-Runtime-Function-Error-Type`` trailer).
"""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOG = logging.getLogger(__name__)

API_VERSION = "2018-06-01"
NEXT_PATH = f"/{API_VERSION}/runtime/invocation/next"
INVOCATION_PREFIX = f"/{API_VERSION}/runtime/invocation/"
INIT_ERROR_PATH = f"/{API_VERSION}/runtime/init/error"

HEADER_REQUEST_ID = "Lambda-Runtime-Aws-Request-Id"
HEADER_DEADLINE_MS = "Lambda-Runtime-Deadline-Ms"
HEADER_FUNCTION_ARN = "Lambda-Runtime-Invoked-Function-Arn"
HEADER_TRACE_ID = "Lambda-Runtime-Trace-Id"
HEADER_CLIENT_CONTEXT = "Lambda-Runtime-Client-Context"
HEADER_COGNITO_IDENTITY = "Lambda-Runtime-Cognito-Identity"
HEADER_ERROR_TYPE = "Lambda-Runtime-Function-Error-Type"
TRAILER_ERROR_BODY = "Lambda-Runtime-Function-Error-Body"

# LocalStack's own default for LAMBDA_LIMITS_MAX_FUNCTION_PAYLOAD_SIZE_BYTES.
DEFAULT_MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100
# Bodies larger than this are not even buffered: the connection is refused.
HARD_BODY_LIMIT = 64 * 1024 * 1024


@dataclasses.dataclass
class Invocation:
    """One invocation as the runtime sees it through GET /next."""

    request_id: str
    payload: bytes
    deadline_ms: int
    invoked_function_arn: str
    trace_id: str | None = None
    client_context: str | None = None
    cognito_identity: str | None = None
    # filled in by the broker
    delivered: bool = False
    outcome: "Outcome | None" = None


@dataclasses.dataclass(frozen=True)
class Outcome:
    """What the runtime answered for an invocation."""

    payload: bytes
    is_error: bool


class WaitResult:
    """Reasons a wait on the broker returns."""

    READY = "ready"  # the runtime called /next for the first time
    INIT_ERROR = "init-error"  # the runtime posted /init/error
    ANSWERED = "answered"  # the invocation has an outcome
    EXITED = "exited"  # the runtime process exited
    CLOSED = "closed"  # the environment is being stopped
    TIMEOUT = "timeout"  # the deadline passed


class RuntimeBroker:
    """State machine between one runtime process and the executor."""

    def __init__(self, max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES):
        self.max_response_bytes = max_response_bytes
        self._cond = threading.Condition()
        self.initialized = False
        self.init_error: bytes | None = None
        self.exit_code: int | None = None
        self.closed = False
        self._queued: Invocation | None = None
        self._current: Invocation | None = None

    # --- runtime side (HTTP handlers) -------------------------------------------------

    def next_invocation(self) -> Invocation | None:
        """Blocks until an invocation is submitted; None when the broker closes."""
        with self._cond:
            if self._current is not None and self._current.outcome is None:
                raise InvalidStateTransition(
                    "Runtime called /next before answering invocation "
                    f"{self._current.request_id}"
                )
            if self.init_error is not None:
                raise InvalidStateTransition("Runtime called /next after /init/error")
            self.initialized = True
            self._current = None
            self._cond.notify_all()
            while self._queued is None and not self.closed:
                self._cond.wait()
            if self.closed:
                return None
            invocation, self._queued = self._queued, None
            invocation.delivered = True
            self._current = invocation
            self._cond.notify_all()
            return invocation

    def post_response(
        self, request_id: str, body: bytes, trailers: dict[str, str] | None = None
    ) -> tuple[int, dict]:
        trailers = trailers or {}
        error_type = _header(trailers, HEADER_ERROR_TYPE)
        if error_type:
            # A streamed response that failed half way: the error travels in trailers.
            encoded = _header(trailers, TRAILER_ERROR_BODY) or ""
            try:
                error_body = base64.b64decode(encoded)
            except ValueError:
                error_body = json.dumps(
                    {"errorType": error_type, "errorMessage": "Invalid error body"}
                ).encode()
            return self._answer(request_id, Outcome(error_body, is_error=True))
        if len(body) > self.max_response_bytes:
            error = {
                "errorMessage": "Response payload size exceeded maximum allowed payload size "
                f"({self.max_response_bytes} bytes).",
                "errorType": "Function.ResponseSizeTooLarge",
            }
            status, reply = self._answer(
                request_id, Outcome(json.dumps(error).encode(), is_error=True)
            )
            if status == HTTPStatus.ACCEPTED:
                return HTTPStatus.REQUEST_ENTITY_TOO_LARGE, error
            return status, reply
        return self._answer(request_id, Outcome(body, is_error=False))

    def post_error(self, request_id: str, body: bytes) -> tuple[int, dict]:
        return self._answer(request_id, Outcome(body, is_error=True))

    def post_init_error(self, body: bytes) -> tuple[int, dict]:
        with self._cond:
            if self.initialized or self.init_error is not None:
                return _invalid_state("Runtime posted /init/error after initialisation")
            self.init_error = body
            self._cond.notify_all()
        return HTTPStatus.ACCEPTED, {"status": "OK"}

    def _answer(self, request_id: str, outcome: Outcome) -> tuple[int, dict]:
        with self._cond:
            current = self._current
            if current is None or current.request_id != request_id:
                return HTTPStatus.BAD_REQUEST, {
                    "errorMessage": "Invalid request ID",
                    "errorType": "InvalidRequestID",
                }
            if current.outcome is not None:
                return _invalid_state(f"Invocation {request_id} was already answered")
            current.outcome = outcome
            self._cond.notify_all()
        return HTTPStatus.ACCEPTED, {"status": "OK"}

    # --- executor side ------------------------------------------------------------------

    def runtime_exited(self, exit_code: int) -> None:
        with self._cond:
            self.exit_code = exit_code
            self._cond.notify_all()

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._cond.notify_all()

    @property
    def alive(self) -> bool:
        with self._cond:
            return not self.closed and self.exit_code is None and self.init_error is None

    def wait_initialized(self, deadline: float | None = None) -> str:
        """Waits until the runtime is ready for its first invocation, or fails to be."""
        with self._cond:
            while True:
                if self.closed:
                    return WaitResult.CLOSED
                if self.init_error is not None:
                    return WaitResult.INIT_ERROR
                if self.initialized:
                    return WaitResult.READY
                if self.exit_code is not None:
                    return WaitResult.EXITED
                if not self._wait(deadline):
                    return WaitResult.TIMEOUT

    def submit(self, invocation: Invocation) -> None:
        with self._cond:
            if self._queued is not None:
                raise RuntimeError("An invocation is already waiting for the runtime")
            self._queued = invocation
            self._cond.notify_all()

    def withdraw(self, invocation: Invocation) -> bool:
        """Takes back an invocation the runtime never fetched; True if it was still queued."""
        with self._cond:
            if self._queued is invocation:
                self._queued = None
                return True
            return False

    def wait_outcome(self, invocation: Invocation, deadline: float | None) -> str:
        """Waits for the runtime's answer to a submitted invocation."""
        with self._cond:
            while True:
                if invocation.outcome is not None:
                    return WaitResult.ANSWERED
                if self.closed:
                    return WaitResult.CLOSED
                if self.exit_code is not None:
                    return WaitResult.EXITED
                if not self._wait(deadline):
                    return WaitResult.TIMEOUT

    def _wait(self, deadline: float | None) -> bool:
        """One condition wait; False once the deadline has passed."""
        if deadline is None:
            self._cond.wait()
            return True
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        self._cond.wait(remaining)
        return True


class InvalidStateTransition(Exception):
    pass


def _invalid_state(message: str) -> tuple[int, dict]:
    return HTTPStatus.FORBIDDEN, {"errorMessage": message, "errorType": "InvalidStateTransition"}


def _header(headers: dict[str, str], name: str) -> str | None:
    lowered = name.lower()
    for key, value in headers.items():
        if key.lower() == lowered:
            return value
    return None


class BodyTooLarge(Exception):
    pass


class MalformedBody(Exception):
    pass


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes; with Nagle's algorithm on, the body
    # would wait for the peer's delayed ACK (~40 ms) on every keep-alive request.
    disable_nagle_algorithm = True
    server_version = "LanyardRuntimeAPI/1.0"
    sys_version = ""
    server: "_HttpServer"

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - signature of the base class
        LOG.debug("runtime api %s: " + format, self.server.label, *args)

    # --- GET ----------------------------------------------------------------------------

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path != NEXT_PATH:
            self._send_json(HTTPStatus.NOT_FOUND, {"errorMessage": "Not found", "errorType": "NotFound"})
            return
        try:
            invocation = self.server.broker.next_invocation()
        except InvalidStateTransition as e:
            self._send_json(*_invalid_state(str(e)))
            return
        if invocation is None:
            # the environment is shutting down; the runtime is about to be killed
            self.close_connection = True
            self._send_json(HTTPStatus.GONE, {"errorMessage": "Environment stopped", "errorType": "Shutdown"})
            return
        headers = {
            HEADER_REQUEST_ID: invocation.request_id,
            HEADER_DEADLINE_MS: str(invocation.deadline_ms),
            HEADER_FUNCTION_ARN: invocation.invoked_function_arn,
        }
        if invocation.trace_id:
            headers[HEADER_TRACE_ID] = invocation.trace_id
        if invocation.client_context:
            headers[HEADER_CLIENT_CONTEXT] = invocation.client_context
        if invocation.cognito_identity:
            headers[HEADER_COGNITO_IDENTITY] = invocation.cognito_identity
        self._send(HTTPStatus.OK, invocation.payload, "application/json", headers)

    # --- POST ---------------------------------------------------------------------------

    def do_POST(self) -> None:
        try:
            body, trailers = self._read_body()
        except BodyTooLarge:
            self.close_connection = True
            self._send_json(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                {"errorMessage": "Request body too large", "errorType": "RequestEntityTooLarge"},
            )
            return
        except MalformedBody as e:
            self.close_connection = True
            self._send_json(HTTPStatus.BAD_REQUEST, {"errorMessage": str(e), "errorType": "InvalidRequest"})
            return

        broker = self.server.broker
        path = self.path.split("?", 1)[0]
        if path == INIT_ERROR_PATH:
            status, reply = broker.post_init_error(body)
        elif path.startswith(INVOCATION_PREFIX) and path[len(INVOCATION_PREFIX) :].count("/") == 1:
            request_id, action = path[len(INVOCATION_PREFIX) :].split("/")
            if action == "response":
                status, reply = broker.post_response(request_id, body, trailers)
            elif action == "error":
                status, reply = broker.post_error(request_id, body)
            else:
                status, reply = HTTPStatus.NOT_FOUND, {"errorMessage": "Not found", "errorType": "NotFound"}
        else:
            status, reply = HTTPStatus.NOT_FOUND, {"errorMessage": "Not found", "errorType": "NotFound"}
        self._send_json(status, reply)

    def _read_body(self) -> tuple[bytes, dict[str, str]]:
        encoding = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in encoding:
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if not length:
            return b"", {}
        try:
            size = int(length)
        except ValueError as e:
            raise MalformedBody(f"Invalid Content-Length {length!r}") from e
        if size < 0:
            raise MalformedBody(f"Invalid Content-Length {length!r}")
        if size > HARD_BODY_LIMIT:
            raise BodyTooLarge()
        body = self.rfile.read(size)
        if len(body) != size:
            raise MalformedBody("Request body ended early")
        return body, {}

    def _read_chunked(self) -> tuple[bytes, dict[str, str]]:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            if not line.endswith(b"\n"):
                raise MalformedBody("Truncated chunk header")
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError as e:
                raise MalformedBody(f"Invalid chunk size {size_text!r}") from e
            if size == 0:
                break
            total += size
            if total > HARD_BODY_LIMIT:
                raise BodyTooLarge()
            chunk = self.rfile.read(size)
            if len(chunk) != size:
                raise MalformedBody("Truncated chunk")
            chunks.append(chunk)
            if self.rfile.readline(1024).strip():
                raise MalformedBody("Missing CRLF after chunk")
        trailers: dict[str, str] = {}
        while True:
            line = self.rfile.readline(65537)
            if not line.endswith(b"\n"):
                raise MalformedBody("Truncated trailer")
            if not line.strip():
                break
            name, _, value = line.decode("latin-1").partition(":")
            trailers[name.strip()] = value.strip()
        return b"".join(chunks), trailers

    # --- responses ----------------------------------------------------------------------

    def _send_json(self, status: int, body: dict) -> None:
        self._send(status, json.dumps(body).encode(), "application/json")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            # The runtime went away (usually: it was killed); nothing left to tell it.
            self.close_connection = True


class _HttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, broker: RuntimeBroker, label: str):
        self.broker = broker
        self.label = label
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)

    def handle_error(self, request, client_address) -> None:
        LOG.debug("runtime api %s: error while handling a request", self.label, exc_info=True)


class RuntimeApiServer:
    """A Runtime API endpoint on 127.0.0.1:<ephemeral port> for one broker."""

    def __init__(self, broker: RuntimeBroker, label: str = ""):
        self.broker = broker
        self._server = _HttpServer(broker, label)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.2},
            name=f"lanyard-runtime-api-{label}",
            daemon=True,
        )
        self._started = False

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> "RuntimeApiServer":
        self._thread.start()
        self._started = True
        return self

    def stop(self, wait: bool = False) -> None:
        """Wakes any handler parked in /next and stops accepting requests.

        The serve loop notices a shutdown only at its next poll, so by default the
        listening socket is closed from a helper thread instead of making the caller
        (a crashed or timed-out invocation) wait for it.
        """
        self.broker.close()
        if not self._started:
            self._server.server_close()
            return
        self._started = False
        closer = threading.Thread(target=self._shutdown, name="lanyard-runtime-api-close", daemon=True)
        closer.start()
        if wait:
            closer.join(timeout=5)

    def _shutdown(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
        self._server.server_close()
