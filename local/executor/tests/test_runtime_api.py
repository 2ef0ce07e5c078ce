"""The Runtime API server and broker, driven over real HTTP on loopback (no processes)."""

import base64
import http.client
import json
import socket
import threading
import time

import pytest

from lanyard_executor.runtime_api import (
    Invocation,
    RuntimeApiServer,
    RuntimeBroker,
    WaitResult,
)

BASE = "/2018-06-01/runtime"


@pytest.fixture
def api():
    broker = RuntimeBroker(max_response_bytes=1000)
    server = RuntimeApiServer(broker, label="test").start()
    yield broker, server
    server.stop(wait=True)


def call(server, method, path, body=None, headers=None, **kwargs):
    conn = http.client.HTTPConnection(server.address, timeout=10)
    conn.request(method, path, body=body, headers=headers or {}, **kwargs)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, dict(response.getheaders()), data


def fetch_next_async(server):
    """Starts GET /next on a thread; returns a dict filled in when it answers."""
    result = {}

    def run():
        result["response"] = call(server, "GET", f"{BASE}/invocation/next")

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    result["thread"] = thread
    return result


def make_invocation(request_id="req-1", payload=b'{"hello":"world"}', **kwargs):
    return Invocation(
        request_id=request_id,
        payload=payload,
        deadline_ms=1_700_000_000_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:probe",
        **kwargs,
    )


def deliver(broker, server, invocation):
    """Runtime polls /next, the executor submits; returns the /next response."""
    pending = fetch_next_async(server)
    assert broker.wait_initialized(time.monotonic() + 5) == WaitResult.READY
    broker.submit(invocation)
    pending["thread"].join(5)
    assert not pending["thread"].is_alive()
    return pending["response"]


def test_the_runtime_api_listens_on_loopback_only(api):
    _, server = api
    assert server.address.startswith("127.0.0.1:")
    assert server._server.socket.getsockname()[0] == "127.0.0.1"


def test_next_blocks_until_an_invocation_is_submitted_and_carries_all_headers(api):
    broker, server = api
    pending = fetch_next_async(server)
    assert broker.wait_initialized(time.monotonic() + 5) == WaitResult.READY
    time.sleep(0.2)
    assert "response" not in pending, "/next must block while there is no invocation"

    broker.submit(
        make_invocation(
            trace_id="Root=1-abc;Parent=def;Sampled=1",
            client_context='{"custom":{"a":"b"}}',
            cognito_identity='{"cognitoIdentityId":"id","cognitoIdentityPoolId":"pool"}',
        )
    )
    pending["thread"].join(5)
    status, headers, body = pending["response"]
    assert status == 200
    assert body == b'{"hello":"world"}'
    assert headers["Lambda-Runtime-Aws-Request-Id"] == "req-1"
    assert headers["Lambda-Runtime-Deadline-Ms"] == "1700000000000"
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:probe")
    assert headers["Lambda-Runtime-Trace-Id"] == "Root=1-abc;Parent=def;Sampled=1"
    assert headers["Lambda-Runtime-Client-Context"] == '{"custom":{"a":"b"}}'
    assert json.loads(headers["Lambda-Runtime-Cognito-Identity"])["cognitoIdentityPoolId"] == "pool"


def test_optional_headers_are_absent_when_not_set(api):
    broker, server = api
    _, headers, _ = deliver(broker, server, make_invocation())
    assert "Lambda-Runtime-Client-Context" not in headers
    assert "Lambda-Runtime-Cognito-Identity" not in headers
    assert "Lambda-Runtime-Trace-Id" not in headers


def test_response_with_content_length(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    status, _, body = call(server, "POST", f"{BASE}/invocation/req-1/response", b'{"ok":true}')
    assert status == 202
    assert json.loads(body) == {"status": "OK"}
    assert broker.wait_outcome(invocation, time.monotonic() + 1) == WaitResult.ANSWERED
    assert invocation.outcome.payload == b'{"ok":true}'
    assert invocation.outcome.is_error is False


def test_chunked_response_is_decoded(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    parts = [b'{"numbers":', b"[1,2,3]", b"}"]
    status, _, _ = call(
        server, "POST", f"{BASE}/invocation/req-1/response", body=iter(parts), encode_chunked=True
    )
    assert status == 202
    assert invocation.outcome.payload == b'{"numbers":[1,2,3]}'
    assert invocation.outcome.is_error is False


def raw_request(server, data: bytes) -> bytes:
    host, port = server.address.split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


def test_chunked_body_with_extensions_and_trailers(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    reply = raw_request(
        server,
        b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"
        b"Host: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\nConnection: close\r\n\r\n"
        b"5;name=value\r\nhello\r\n"
        b"6\r\n world\r\n"
        b"0\r\nX-Checksum: abc\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 202")
    assert invocation.outcome.payload == b"hello world"


def test_error_in_trailers_turns_a_streamed_response_into_an_error(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    error_body = json.dumps({"errorMessage": "stream broke", "errorType": "StreamError"}).encode()
    reply = raw_request(
        server,
        b"POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1\r\n"
        b"Host: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        b"4\r\npart\r\n0\r\n"
        b"Lambda-Runtime-Function-Error-Type: StreamError\r\n"
        b"Lambda-Runtime-Function-Error-Body: " + base64.b64encode(error_body) + b"\r\n\r\n",
    )
    assert reply.startswith(b"HTTP/1.1 202")
    assert invocation.outcome.is_error is True
    assert invocation.outcome.payload == error_body


def test_invocation_error_keeps_the_runtime_body(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    error = b'{"errorMessage":"something failed","errorType":"MyError","stackTrace":[]}'
    status, _, _ = call(
        server,
        "POST",
        f"{BASE}/invocation/req-1/error",
        error,
        {"Lambda-Runtime-Function-Error-Type": "MyError", "Content-Type": "application/json"},
    )
    assert status == 202
    assert invocation.outcome.is_error is True
    assert invocation.outcome.payload == error


def test_unknown_request_id_and_double_answers_are_rejected(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    status, _, body = call(server, "POST", f"{BASE}/invocation/other-id/response", b"{}")
    assert status == 400
    assert json.loads(body)["errorType"] == "InvalidRequestID"
    assert invocation.outcome is None

    assert call(server, "POST", f"{BASE}/invocation/req-1/response", b"1")[0] == 202
    status, _, body = call(server, "POST", f"{BASE}/invocation/req-1/error", b"{}")
    assert status == 403
    assert json.loads(body)["errorType"] == "InvalidStateTransition"
    assert invocation.outcome.payload == b"1"


def test_next_after_an_answer_serves_the_following_invocation_on_the_same_connection(api):
    broker, server = api
    conn = http.client.HTTPConnection(server.address, timeout=10)
    results = []

    def runtime_loop():
        for _ in range(2):
            conn.request("GET", f"{BASE}/invocation/next")
            response = conn.getresponse()
            body = response.read()
            request_id = response.getheader("Lambda-Runtime-Aws-Request-Id")
            conn.request("POST", f"{BASE}/invocation/{request_id}/response", body=body.upper())
            response = conn.getresponse()
            response.read()
            results.append(response.status)

    thread = threading.Thread(target=runtime_loop, daemon=True)
    thread.start()
    for index in range(2):
        assert broker.wait_initialized(time.monotonic() + 5) == WaitResult.READY
        invocation = make_invocation(request_id=f"req-{index}", payload=f"payload-{index}".encode())
        broker.submit(invocation)
        assert broker.wait_outcome(invocation, time.monotonic() + 5) == WaitResult.ANSWERED
        assert invocation.outcome.payload == f"PAYLOAD-{index}".encode()
    thread.join(5)
    conn.close()
    assert results == [202, 202]


def test_init_error_is_reported_to_the_waiting_executor(api):
    broker, server = api
    error = b'{"errorMessage":"bad config","errorType":"Runtime.ConfigError"}'
    status, _, _ = call(
        server, "POST", f"{BASE}/init/error", error, {"Lambda-Runtime-Function-Error-Type": "Runtime.ConfigError"}
    )
    assert status == 202
    assert broker.wait_initialized(time.monotonic() + 1) == WaitResult.INIT_ERROR
    assert broker.init_error == error
    # an init error after initialisation is an invalid state transition
    assert call(server, "GET", f"{BASE}/invocation/next")[0] == 403


def test_init_error_after_initialisation_is_rejected(api):
    broker, server = api
    deliver(broker, server, make_invocation())
    assert call(server, "POST", f"{BASE}/init/error", b"{}")[0] == 403
    assert broker.init_error is None


def test_oversized_response_becomes_an_error_and_the_runtime_gets_413(api):
    broker, server = api
    invocation = make_invocation()
    deliver(broker, server, invocation)
    status, _, body = call(server, "POST", f"{BASE}/invocation/req-1/response", b"x" * 1001)
    assert status == 413
    assert json.loads(body)["errorType"] == "Function.ResponseSizeTooLarge"
    assert invocation.outcome.is_error is True
    assert json.loads(invocation.outcome.payload) == {
        "errorMessage": "Response payload size exceeded maximum allowed payload size (1000 bytes).",
        "errorType": "Function.ResponseSizeTooLarge",
    }


def test_closing_the_broker_releases_a_parked_next_and_the_waiters(api):
    broker, server = api
    pending = fetch_next_async(server)
    assert broker.wait_initialized(time.monotonic() + 5) == WaitResult.READY
    invocation = make_invocation()
    outcome = {}
    waiter = threading.Thread(
        target=lambda: outcome.setdefault("state", broker.wait_outcome(invocation, None)), daemon=True
    )
    waiter.start()
    server.stop(wait=True)
    pending["thread"].join(5)
    waiter.join(5)
    assert pending["response"][0] == 410
    assert outcome["state"] == WaitResult.CLOSED
    assert broker.wait_initialized() == WaitResult.CLOSED


def test_process_exit_and_deadline_wake_waiters():
    broker = RuntimeBroker()
    assert broker.wait_initialized(time.monotonic() + 0.1) == WaitResult.TIMEOUT
    invocation = make_invocation()
    broker.submit(invocation)
    assert broker.wait_outcome(invocation, time.monotonic() + 0.1) == WaitResult.TIMEOUT
    threading.Timer(0.1, broker.runtime_exited, args=(3,)).start()
    assert broker.wait_outcome(invocation, time.monotonic() + 5) == WaitResult.EXITED
    assert broker.exit_code == 3
    assert broker.withdraw(invocation) is True  # never fetched by the runtime
    assert broker.alive is False


def test_unknown_paths_are_404(api):
    _, server = api
    assert call(server, "GET", f"{BASE}/invocation/other")[0] == 404
    assert call(server, "POST", f"{BASE}/invocation/id/unknown", b"")[0] == 404
    assert call(server, "POST", "/2018-06-01/runtime/elsewhere", b"")[0] == 404
