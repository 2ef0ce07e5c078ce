"""Host processes for Lambda runtimes: starting, capturing output, killing.

Every bootstrap runs in its own process group (``start_new_session``), so the
whole tree it may have forked can be killed at once with ``killpg``.  On Linux
each bootstrap also gets ``PR_SET_PDEATHSIG=SIGKILL``: the kernel kills it if
the process that started it dies, even by SIGKILL, when no cleanup code can run.

``PR_SET_PDEATHSIG`` fires when the *thread* that forked the child exits, not
the process.  LocalStack starts execution environments from short-lived worker
threads, so all processes are forked from one long-lived daemon thread
(``_Spawner``) that lives as long as the interpreter.
"""

from __future__ import annotations

import codecs
import collections
import concurrent.futures
import ctypes
import logging
import os
import queue
import selectors
import signal
import subprocess
import threading
from typing import Callable, Sequence

LOG = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1


def _load_prctl():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None  # not Linux: no parent-death signal, the other cleanups still apply
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    return prctl


# Resolved once, before any fork: the child must not load libraries.
_PRCTL = _load_prctl()


def _child_setup_for(parent_pid: int) -> Callable[[], None] | None:
    if _PRCTL is None:
        return None
    prctl = _PRCTL

    def child_setup() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        # The parent may have died between fork and prctl: then nobody would kill us.
        if os.getppid() != parent_pid:
            os._exit(127)

    return child_setup


class _Spawner:
    """Runs every ``subprocess.Popen`` on one long-lived daemon thread."""

    def __init__(self) -> None:
        self._queue: "queue.SimpleQueue" = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def popen(self, argv: Sequence[str], **kwargs) -> subprocess.Popen:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="lanyard-process-spawner", daemon=True
                )
                self._thread.start()
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._queue.put((future, argv, kwargs))
        return future.result()

    def _run(self) -> None:
        while True:
            future, argv, kwargs = self._queue.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                kwargs["preexec_fn"] = _child_setup_for(os.getpid())
                future.set_result(subprocess.Popen(argv, **kwargs))
            except BaseException as e:  # handed to the caller
                future.set_exception(e)


_SPAWNER = _Spawner()


def describe_exit(returncode: int) -> str:
    """Describes an exit the way Go's os.ProcessState does ("exit status 2", "signal: killed")."""
    if returncode >= 0:
        return f"exit status {returncode}"
    signum = -returncode
    try:
        name = signal.strsignal(signum) or f"signal {signum}"
    except ValueError:
        name = f"signal {signum}"
    return f"signal: {name.lower()}"


class LogCollector:
    """The output of one execution environment.

    ``take()`` returns what was written since the previous ``take()`` (the logs
    of one invocation, init output included for the first one); ``history()``
    returns the last ``history_limit`` characters for diagnostics.
    """

    def __init__(self, history_limit: int = 256 * 1024, pending_limit: int = 16 * 1024 * 1024):
        self._lock = threading.Lock()
        self._pending: collections.deque[str] = collections.deque()
        self._pending_size = 0
        self._pending_limit = pending_limit
        self._dropped = 0
        self._history: collections.deque[str] = collections.deque()
        self._history_size = 0
        self._history_limit = history_limit

    def write(self, text: str) -> None:
        if not text:
            return
        with self._lock:
            self._pending.append(text)
            self._pending_size += len(text)
            # a process printing between invocations must not grow memory without bound
            while self._pending_size > self._pending_limit and len(self._pending) > 1:
                dropped = self._pending.popleft()
                self._pending_size -= len(dropped)
                self._dropped += len(dropped)
            self._history.append(text)
            self._history_size += len(text)
            while self._history_size > self._history_limit and len(self._history) > 1:
                self._history_size -= len(self._history.popleft())

    def take(self) -> str:
        with self._lock:
            text = "".join(self._pending)
            if self._dropped:
                text = f"[{self._dropped} characters of output dropped]\n" + text
            self._pending.clear()
            self._pending_size = 0
            self._dropped = 0
            return text

    def history(self) -> str:
        with self._lock:
            return "".join(self._history)


class OutputPump:
    """Copies a process's stdout and stderr, line by line, into a LogCollector.

    A daemon thread reads whatever arrives.  ``flush()`` reads, from the calling
    thread, everything already sitting in the pipes: a runtime writes its output
    before it posts its result, so after the result arrives a flush captures
    all of that invocation's output.  Reads happen under one lock, so the two
    readers never reorder or lose data.
    """

    def __init__(self, streams: Sequence, collector: LogCollector, label: str = ""):
        self._collector = collector
        self._lock = threading.Lock()
        self._selector = selectors.DefaultSelector()
        self._files = {}
        self._decoders = {}
        self._partial: dict[int, str] = {}
        for stream in streams:
            fd = stream.fileno()
            os.set_blocking(fd, False)
            self._files[fd] = stream
            self._decoders[fd] = codecs.getincrementaldecoder("utf-8")(errors="replace")
            self._partial[fd] = ""
            self._selector.register(fd, selectors.EVENT_READ)
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lanyard-output-{label}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while True:
                with self._lock:
                    if not self._files:
                        break
                for key, _ in self._selector.select(timeout=0.5):
                    self._read(key.fd)
        except Exception:  # never let a reader die silently with the pipes still open
            LOG.exception("Output reader failed")
        finally:
            self._closed.set()

    def _read(self, fd: int) -> None:
        with self._lock:
            while fd in self._files:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    return
                except OSError:
                    data = b""
                if not data:
                    self._emit(fd, self._decoders[fd].decode(b"", final=True), end=True)
                    self._selector.unregister(fd)
                    self._files.pop(fd).close()
                    return
                self._emit(fd, self._decoders[fd].decode(data))

    def _emit(self, fd: int, text: str, end: bool = False) -> None:
        text = self._partial[fd] + text
        if end:
            complete, self._partial[fd] = text, ""
            if complete and not complete.endswith("\n"):
                complete += "\n"
        else:
            cut = text.rfind("\n") + 1
            complete, self._partial[fd] = text[:cut], text[cut:]
        self._collector.write(complete)

    def flush(self, partial_lines: bool = True) -> None:
        """Reads everything already in the pipes; with partial_lines, also unfinished lines."""
        for fd in list(self._files):
            self._read(fd)
        if partial_lines:
            with self._lock:
                for fd, text in self._partial.items():
                    if text:
                        self._partial[fd] = ""
                        self._collector.write(text + "\n")

    def wait_closed(self, timeout: float) -> bool:
        return self._closed.wait(timeout)

    def close(self) -> None:
        with self._lock:
            for fd, stream in list(self._files.items()):
                try:
                    self._selector.unregister(fd)
                except (KeyError, ValueError):
                    pass
                stream.close()
            self._files.clear()


class RuntimeProcess:
    """One bootstrap process in its own process group, with its output captured."""

    def __init__(
        self,
        argv: Sequence[str],
        env: dict[str, str],
        cwd: str,
        collector: LogCollector,
        on_exit: Callable[[int], None],
        label: str = "",
    ):
        self._reap_lock = threading.Lock()
        self._on_exit = on_exit
        self.returncode: int | None = None
        self.popen = _SPAWNER.popen(
            list(argv),
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            close_fds=True,
        )
        self.pid = self.popen.pid
        self.output = OutputPump([self.popen.stdout, self.popen.stderr], collector, label)
        self._watcher = threading.Thread(target=self._watch, name=f"lanyard-exit-{label}", daemon=True)
        self._watcher.start()

    def _watch(self) -> None:
        try:
            # Wait for the exit without reaping: while the leader is a zombie its pid,
            # and so the process group id, cannot be reused by another process.
            os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
        except ChildProcessError:
            pass
        with self._reap_lock:
            self._kill_group()  # a runtime's helpers do not outlive it, as in a Lambda sandbox
            self.returncode = self.popen.wait()
        try:
            self._on_exit(self.returncode)
        except Exception:
            LOG.exception("Exit callback failed for process %s", self.pid)

    def _kill_group(self) -> None:
        try:
            os.killpg(self.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    @property
    def running(self) -> bool:
        return self.returncode is None

    def kill(self, timeout: float = 5.0) -> None:
        """Kills the whole process group and waits until the leader is reaped."""
        with self._reap_lock:
            if self.popen.returncode is None:
                self._kill_group()
        self._watcher.join(timeout)
        if self._watcher.is_alive():
            LOG.warning("Process %s did not exit %.0fs after SIGKILL", self.pid, timeout)

    def close(self) -> None:
        """Kills the process and releases its pipes (after reading what is left)."""
        self.kill()
        self.output.wait_closed(0.5)
        self.output.flush()
        self.output.close()
