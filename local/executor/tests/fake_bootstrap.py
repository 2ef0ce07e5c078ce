"""A minimal custom runtime for the tests, talking to the Runtime API like a real bootstrap.

Init behaviour comes from FAKE_INIT (environment):
  ""            normal: print a line, then poll /next
  "init-error"  post /runtime/init/error, then exit 1
  "exit"        exit 5 before ever calling /next
  "slow"        sleep 30 s before calling /next
  "grandchild"  start a long-sleeping child (same process group), print its pid, go on

Each invocation's JSON payload picks the behaviour through "action":
  "echo"     respond {"echo": payload, "pid", "count", "env": {...}, "deadline_ms", "headers"}
  "chunked"  respond the same with Transfer-Encoding: chunked
  "error"    post /error with {"errorMessage", "errorType"} and Lambda-Runtime-Function-Error-Type
  "sleep"    sleep "seconds", then respond
  "crash"    print, then exit with "code"
  "die-after-error"  post /error, then exit 2 (what aws-lambda-go does after a panic)
  "big"      respond with "size" bytes
"""

import http.client
import json
import os
import subprocess
import sys
import time

API = os.environ["AWS_LAMBDA_RUNTIME_API"]
BASE = "/2018-06-01/runtime"
COUNT = 0


def request(method, path, body=None, headers=None, chunked=False):
    conn = http.client.HTTPConnection(API, timeout=None)
    headers = dict(headers or {})
    if chunked:
        conn.request(method, path, body=iter([body[: len(body) // 2], body[len(body) // 2 :]]), headers=headers, encode_chunked=True)
    else:
        conn.request(method, path, body=body, headers=headers)
    response = conn.getresponse()
    data = response.read()
    result = response.status, dict(response.getheaders()), data
    conn.close()
    return result


def main():
    global COUNT
    init = os.environ.get("FAKE_INIT", "")
    print(f"init output pid={os.getpid()}", flush=True)
    if init == "init-error":
        error = json.dumps({"errorMessage": "cannot load config", "errorType": "ConfigError"}).encode()
        request("POST", f"{BASE}/init/error", error, {"Lambda-Runtime-Function-Error-Type": "ConfigError"})
        sys.exit(1)
    if init == "exit":
        print("exiting during init", file=sys.stderr, flush=True)
        sys.exit(5)
    if init == "slow":
        time.sleep(30)
    if init == "grandchild":
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
        print(f"grandchild={child.pid}", flush=True)

    while True:
        status, headers, body = request("GET", f"{BASE}/invocation/next")
        if status != 200:
            sys.exit(0)
        COUNT += 1
        request_id = headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(body or b"{}")
        action = event.get("action", "echo")
        print(f"stdout line for {request_id} action={action}", flush=True)
        print(f"stderr line for {request_id}", file=sys.stderr, flush=True)
        if action == "error":
            error = json.dumps({"errorMessage": event.get("message", "bad thing"), "errorType": "BadThing"}).encode()
            request("POST", f"{BASE}/invocation/{request_id}/error", error,
                    {"Lambda-Runtime-Function-Error-Type": "BadThing", "Content-Type": "application/json"})
            continue
        if action == "die-after-error":
            error = json.dumps({"errorMessage": "panic", "errorType": "Panic"}).encode()
            request("POST", f"{BASE}/invocation/{request_id}/error", error)
            sys.exit(2)
        if action == "crash":
            sys.exit(event.get("code", 7))
        if action == "sleep":
            time.sleep(event.get("seconds", 1))
        if action == "big":
            status, _, _ = request("POST", f"{BASE}/invocation/{request_id}/response", b"x" * event["size"])
            print(f"big response status={status}", flush=True)
            continue
        result = {
            "echo": event,
            "pid": os.getpid(),
            "count": COUNT,
            "env": dict(os.environ),
            "headers": headers,
            "cwd": os.getcwd(),
        }
        request("POST", f"{BASE}/invocation/{request_id}/response", json.dumps(result).encode(),
                chunked=(action == "chunked"))


if __name__ == "__main__":
    main()
