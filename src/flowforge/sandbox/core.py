"""Host side of the sandbox: Limits, the Sandbox protocol, the process sandbox and `get_sandbox`.

Each run is a fresh `python -I -S -B` child in its own session, with a scrubbed env, a fresh
scratch dir as cwd (deleted afterwards), the job on a private pipe and the verdict on another
(nonce-tagged, see _child.py). The host enforces the wall clock and the output cap and kills the
whole process group (and, at "namespaces", the pid namespace) when either is exceeded.
"""
from __future__ import annotations

import ast
import asyncio
import functools
import os
import secrets
import shutil
import signal
import sys
import sysconfig
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Awaitable, Callable, Protocol

from flowforge.errors import SandboxError, UserError
from flowforge.types import ExecResult

LEVELS = ("rlimits", "namespaces")
_CHILD_SOURCE = (Path(__file__).with_name("_child.py")).read_text()
# The bootstrap runs in a private globals dict with a snapshot of builtins, so user code that
# patches the builtins module (or imports __main__) cannot reach or alter the harness.
_LOADER = ("exec(compile(%r, '<sandbox>', 'exec'), "
           "{'__builtins__': dict(__builtins__.__dict__), '__name__': '_sandbox'})" % _CHILD_SOURCE)
_MAX_CHANNEL_BYTES = 8 << 20  # verdict/op channel: more than this is a flood -> kill
_NS_PYTHON_CANDIDATES = ("/usr/bin/python3", "/usr/local/bin/python3", "/usr/bin/python3.11", "/usr/bin/python3.12")

OpCaller = Callable[[str, dict], Awaitable[Any]]


@dataclass
class Limits:
    """Resource limits for one sandboxed run."""

    wall_s: float = 10.0
    cpu_s: float | None = None  # default: wall_s rounded up
    memory_mb: int = 1024  # address space; Python itself needs ~30 MB
    max_output_bytes: int = 1_000_000  # stdout + stderr; beyond this the run is killed
    isolation: str = "auto"  # "auto" | "rlimits" | "namespaces"
    file_size_mb: int = 64
    max_procs: int = 32  # RLIMIT_NPROC (threads count), only when the child is not root

    def __post_init__(self):
        if self.isolation not in ("auto",) + LEVELS:
            raise UserError(f"Limits.isolation: {self.isolation!r} is not one of auto, rlimits, namespaces")
        for name in ("wall_s", "memory_mb", "max_output_bytes", "file_size_mb", "max_procs"):
            if getattr(self, name) <= 0:
                raise UserError(f"Limits.{name} must be > 0, got {getattr(self, name)!r}")
        if self.memory_mb < 64:
            raise UserError(f"Limits.memory_mb must be >= 64 (Python needs ~30 MB to start), got {self.memory_mb}")

    @property
    def cpu_limit(self) -> int:
        return max(1, int(-(-(self.cpu_s if self.cpu_s is not None else self.wall_s) // 1)))


class Sandbox(Protocol):
    """Runs untrusted Python. `level` names the isolation in force ("rlimits" or "namespaces").
    `run` returns the code's outcome; infrastructure failure raises SandboxError."""

    level: str

    def run(self, code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult: ...


def _repo_root() -> Path:
    return Path(__file__).resolve().parents[3]


def _stdlib_roots(python: str) -> list[str]:
    if python == sys.executable:
        paths = sysconfig.get_paths()
        return sorted({paths["stdlib"], paths["platstdlib"]})
    v = f"python{sys.version_info.major}.{sys.version_info.minor}"
    base = Path(python).resolve().parent.parent / "lib"
    return [str(base / v)]


class ProcessSandbox:
    """A fresh child process per run, at level "rlimits" or "namespaces" (see the package docstring)."""

    def __init__(self, level: str, python: str | None = None):
        if level not in LEVELS:
            raise SandboxError(f"unknown isolation level {level!r}")
        self.level = level
        self.python = python or (sys.executable if level == "rlimits" else _ns_python())
        self.read_roots = _read_roots(self.python)

    # -- command line -------------------------------------------------------------------------
    def _command(self, job_fd: int, uid: int | None) -> list[str]:
        py = [self.python, "-I", "-S", "-B", "-c", _LOADER, str(job_fd)]
        if self.level == "rlimits":
            return py
        hide = _hidden_dirs()
        mounts = "".join(f"mount -t tmpfs -o size=4k,mode=0,ro none '{d}' 2>/dev/null; " for d in hide)
        drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs",
                "--inh-caps=-all", "--bounding-set=-all", "--"]
        script = mounts + '"$@"; exit $?'  # sh stays as ns init and reports 128+signal for python
        return ["unshare", "--net", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc", "--",
                "sh", "-c", script, "sh", *drop, *py]

    # -- public API ------------------------------------------------------------------------------
    def run(self, code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult:
        return _sync(self.arun(code, limits, stdin))

    async def arun(self, code: str, limits: Limits | None = None, stdin: str | None = None) -> ExecResult:
        res, _ = await self._execute({"mode": "run", "code": code}, limits or Limits(), stdin)
        return res

    def run_tests(self, program: str, tests: str | list[str], *, entry_point: str | None = None,
                  limits: Limits | None = None) -> ExecResult:
        return _sync(self.arun_tests(program, tests, entry_point=entry_point, limits=limits))

    async def arun_tests(self, program: str, tests: str | list[str], *, entry_point: str | None = None,
                         limits: Limits | None = None) -> ExecResult:
        if not isinstance(tests, (str, list)) or (isinstance(tests, list) and not all(isinstance(t, str) for t in tests)):
            raise UserError("run_tests: tests must be a str or a list of str")
        joined = tests if isinstance(tests, str) else "\n".join(tests)
        if "def check(" in joined and not entry_point:
            raise UserError("run_tests: tests define check(candidate) but no entry_point was given")
        job = {"mode": "tests", "program": program, "tests": tests, "entry_point": entry_point}
        res, info = await self._execute(job, limits or Limits(), None)
        total = info.get("total", len(tests) if isinstance(tests, list) else None)
        if res.result is None:
            res.result = {"passed": info.get("passed", 0), "total": total}
        return res

    async def run_workflow(self, source: str, problem: str, call_op: OpCaller, *,
                           limits: Limits | None = None) -> ExecResult:
        lim = limits or Limits()
        job = {"mode": "workflow", "source": source, "problem": problem, "max_result_chars": lim.max_output_bytes}
        res, _ = await self._execute(job, lim, None, call_op=call_op)
        return res

    # -- one run ---------------------------------------------------------------------------------
    async def _execute(self, job: dict, limits: Limits, stdin: str | None,
                       call_op: OpCaller | None = None) -> tuple[ExecResult, dict]:
        t0 = time.monotonic()
        scratch = tempfile.mkdtemp(prefix="ffsbx-")
        uid = None
        if self.level == "namespaces":
            uid = 100_000 + secrets.randbelow(900_000)  # a fresh uid per run: no shared NPROC, no shared files
            os.chown(scratch, uid, uid)
        nonce = secrets.token_hex(16)
        fds: list[int] = []
        job_r, job_w = os.pipe()
        res_r, res_w = os.pipe()
        fds += [job_r, job_w, res_r, res_w]
        rep_r = rep_w = None
        if call_op is not None:
            rep_r, rep_w = os.pipe()
            fds += [rep_r, rep_w]
        job = dict(job, nonce=nonce, res_fd=res_w, rep_fd=rep_r, cpu_s=limits.cpu_limit,
                   memory_mb=limits.memory_mb, fsize_mb=limits.file_size_mb, nproc=limits.max_procs,
                   read_roots=self.read_roots)
        proc = None
        try:
            import json

            payload = json.dumps(job).encode()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *self._command(job_r, uid), cwd=scratch, env=_clean_env(scratch),
                    stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                    pass_fds=[f for f in (job_r, res_w, rep_r) if f is not None], start_new_session=True)
            except OSError as e:
                raise SandboxError(f"cannot start sandbox process: {e}") from e
            for f in (job_r, res_w, rep_r):
                if f is not None:
                    os.close(f)
                    fds.remove(f)
            run = _Run(proc, nonce, limits, call_op, res_r, rep_w)
            run.level = self.level
            # _Run owns res_r/rep_w, and go()'s feeder thread closes job_w even when go() is cancelled:
            # closing it here again could close a number already reused by a concurrent run's pipe.
            fds = [f for f in fds if f not in (res_r, rep_w, job_w)]
            await run.go(payload, job_w, stdin)
            return run.outcome(time.monotonic() - t0)
        finally:
            for f in fds:
                try:
                    os.close(f)
                except OSError:
                    pass
            if proc is not None and proc.returncode is None:
                _kill(proc)
                await _reap(proc)
            shutil.rmtree(scratch, ignore_errors=True)


class _Run:
    """Pumps one child's stdout/stderr/verdict channel, serves op calls, enforces wall + output."""

    def __init__(self, proc, nonce: str, limits: Limits, call_op, res_r: int, rep_w: int | None):
        self.proc, self.nonce, self.limits, self.call_op = proc, nonce, limits, call_op
        self.res_r, self.rep_w = res_r, rep_w
        self.out = {"stdout": bytearray(), "stderr": bytearray()}
        self.total_out = 0
        self.msgs: list[dict] = []
        self.info: dict = {}
        self.killed_for: str | None = None
        self.ops: set[asyncio.Task] = set()
        self.rep_lock = asyncio.Lock()
        self.level = "rlimits"

    def _kill(self, why: str):
        if self.killed_for is None:
            self.killed_for = why
        _kill(self.proc)

    async def _pump_out(self, stream, name: str):
        while True:
            chunk = await stream.read(65536)
            if not chunk:
                return
            room = self.limits.max_output_bytes - self.total_out
            self.out[name] += chunk[:max(0, room)]
            self.total_out += len(chunk)
            if self.total_out > self.limits.max_output_bytes:
                self._kill("output")
                return

    async def _pump_channel(self):
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_MAX_CHANNEL_BYTES, loop=loop)
        transport, _ = await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader, loop=loop),
                                                    os.fdopen(self.res_r, "rb", 0))
        seen = 0
        prefix = (self.nonce + " ").encode()
        try:
            while True:
                try:
                    line = await reader.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    self._kill("channel")
                    return
                seen += len(line)
                if seen > _MAX_CHANNEL_BYTES:
                    self._kill("channel")
                    return
                if line.startswith(prefix):
                    try:
                        msg = ast.literal_eval(line[len(prefix):].decode("utf-8", "replace"))
                    except (ValueError, SyntaxError, MemoryError, RecursionError):
                        continue
                    if isinstance(msg, dict):
                        self._on_msg(msg)
                elif self.call_op is not None:
                    self._on_op_request(line)
        finally:
            transport.close()

    def _on_msg(self, msg: dict):
        t = msg.get("t")
        if t == "ready":
            self.info["ready"] = True
        elif t == "plan":
            self.info["total"] = msg.get("total")
        elif t == "progress":
            self.info["passed"] = msg.get("passed", 0)
        elif "ok" in msg and "final" not in self.info:
            self.info["final"] = msg

    def _on_op_request(self, line: bytes):
        import json

        try:
            req = json.loads(line)
            rid, op, kwargs = req["id"], req["op"], req["kwargs"]
            if not isinstance(op, str) or not isinstance(kwargs, dict):
                raise ValueError
        except (ValueError, KeyError, TypeError, RecursionError):
            return  # garbage from the child: ignore
        if len(self.ops) >= 64:  # a child flooding us with concurrent calls
            self._kill("ops")
            return
        task = asyncio.ensure_future(self._serve_op(rid, op, kwargs))
        self.ops.add(task)
        task.add_done_callback(self.ops.discard)

    async def _serve_op(self, rid, op: str, kwargs: dict):
        import json

        try:
            result = await self.call_op(op, kwargs)
            reply = {"id": rid, "result": result}
            data = json.dumps(reply)
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the operator failed: the workflow sees OperatorError(message)
            data = json.dumps({"id": rid, "error": f"{type(e).__name__}: {e}"})
        async with self.rep_lock:
            try:
                await asyncio.get_running_loop().run_in_executor(None, _write_all, self.rep_w, (data + "\n").encode())
            except OSError:
                pass  # child gone

    async def go(self, payload: bytes, job_w: int, stdin: str | None):
        loop = asyncio.get_running_loop()
        feeder = loop.run_in_executor(None, _write_and_close, job_w, payload)
        tasks = [asyncio.ensure_future(self._pump_out(self.proc.stdout, "stdout")),
                 asyncio.ensure_future(self._pump_out(self.proc.stderr, "stderr")),
                 asyncio.ensure_future(self._pump_channel())]
        if stdin is not None:
            tasks.append(asyncio.ensure_future(_feed_stdin(self.proc.stdin, stdin.encode())))
        try:
            await asyncio.wait_for(self.proc.wait(), timeout=self.limits.wall_s)
        except asyncio.TimeoutError:
            self._kill("timeout")
            await self.proc.wait()
        finally:
            _kill(self.proc)  # anything left in the group / namespace
            for t in list(self.ops):
                t.cancel()
            try:
                await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), timeout=5)
            except asyncio.TimeoutError:
                for t in tasks:
                    t.cancel()
            await asyncio.gather(feeder, return_exceptions=True)
            if self.rep_w is not None:
                try:
                    os.close(self.rep_w)
                except OSError:
                    pass

    def outcome(self, seconds: float) -> tuple[ExecResult, dict]:
        stdout = self.out["stdout"].decode("utf-8", "replace")
        stderr = self.out["stderr"].decode("utf-8", "replace")
        base = dict(stdout=stdout, stderr=stderr, seconds=seconds)
        final, rc, why = self.info.get("final"), self.proc.returncode, self.killed_for
        if self.level == "namespaces" and rc is not None and rc > 128:
            rc = -(rc - 128)  # the sh init of the namespace reports a signal as 128+N
        partial = None
        if "total" in self.info:
            partial = {"passed": self.info.get("passed", 0), "total": self.info["total"]}
        if why == "timeout":
            if not self.info.get("ready") and final is None:
                raise SandboxError(f"sandbox did not start within wall_s={self.limits.wall_s}s; stderr: {stderr[-500:]}")
            return ExecResult(False, error="Timeout", message=f"wall time limit of {self.limits.wall_s}s exceeded",
                              timeout=True, result=partial, **base), self.info
        if why == "output":
            return ExecResult(False, error="OutputLimitExceeded", result=partial,
                              message=f"output exceeded max_output_bytes={self.limits.max_output_bytes}", **base), self.info
        if why in ("channel", "ops"):
            return ExecResult(False, error="ChannelFlood", result=partial,
                              message="the code flooded the sandbox control channel", **base), self.info
        if final is not None:
            ok = bool(final.get("ok"))
            result = final.get("result")
            if "total" in final:
                result = {"passed": final.get("passed", 0), "total": final["total"]}
            return ExecResult(ok, result=result, error=None if ok else str(final.get("error")),
                              message="" if ok else str(final.get("message", "")),
                              memory_exceeded=bool(final.get("memory")), **base), self.info
        if not self.info.get("ready"):
            raise SandboxError(f"sandbox failed to start (exit {rc}); stderr: {stderr[-500:]}")
        if rc is not None and rc in (-signal.SIGXCPU, -signal.SIGKILL) and why is None:
            return ExecResult(False, error="Timeout", message=f"CPU time limit of {self.limits.cpu_limit}s exceeded",
                              timeout=True, result=partial, **base), self.info
        if rc is not None and rc < 0:
            name = signal.Signals(-rc).name if -rc in signal.Signals._value2member_map_ else str(-rc)
            return ExecResult(False, error="Crash", message=f"killed by {name}", result=partial, **base), self.info
        return ExecResult(False, error="EarlyExit", result=partial,
                          message=f"process exited (code {rc}) before reporting a result", **base), self.info


def _write_all(fd: int, data: bytes):
    while data:
        data = data[os.write(fd, data):]


def _write_and_close(fd: int, data: bytes):
    try:
        _write_all(fd, data)
    except OSError:
        pass  # child died before reading its job
    finally:
        os.close(fd)


async def _feed_stdin(stream, data: bytes):
    try:
        stream.write(data)
        await stream.drain()
        stream.close()
    except (BrokenPipeError, ConnectionResetError):
        pass


def _descendants(pid: int) -> list[int]:
    out, stack = [], [pid]
    while stack:
        p = stack.pop()
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{t}/children") as f:
                    kids = [int(k) for k in f.read().split()]
                out += kids
                stack += kids
        except (OSError, ValueError):
            pass
    return out


def _kill(proc):
    """SIGKILL the child, its process group and every descendant (a setsid'd one included).

    Signals only, never a reap: asyncio's child watcher must be the one to waitpid() the child.
    (`proc.kill()` would go through Popen.send_signal, whose poll() reaps a child that has just
    died; the watcher then logs "Unknown child process pid N, will report returncode 255" and the
    run sees exit code 255.) The child leads its own process group, so killpg reaches it."""
    for pid in _descendants(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    if proc.returncode is None:  # unreaped, so the pid is still ours
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass


async def _reap(proc):
    """Wait for a killed child even if we are cancelled meanwhile (then re-raise the cancel).
    Abandoning it would let the transport's close() poll() -- i.e. reap -- it behind the watcher."""
    waiter = asyncio.ensure_future(proc.wait())
    cancelled = False
    while not waiter.done():
        try:
            await asyncio.shield(waiter)
        except asyncio.CancelledError:
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError


def _clean_env(scratch: str) -> dict[str, str]:
    # Nothing from the parent passes: no API keys, no PYTHON*, no proxies.
    return {"PATH": "/usr/bin:/bin", "HOME": scratch, "TMPDIR": scratch, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def _read_roots(python: str) -> list[str]:
    return _stdlib_roots(python)


def _hidden_dirs() -> list[str]:
    """Dirs masked with an empty tmpfs inside the mount namespace (defence in depth behind the hook)."""
    cands = {"/root", "/home", str(Path.home()), str(_repo_root()), os.getcwd(),
             os.environ.get("FLOWFORGE_HOME", "")}
    keep = ("/usr", "/lib", "/bin", "/etc", "/proc", "/dev", "/tmp", tempfile.gettempdir())
    out = []
    for d in sorted(c for c in cands if c and c != "/" and os.path.isdir(c)):
        if any(k == d or k.startswith(d.rstrip("/") + "/") for k in keep):
            continue
        if "'" in d:
            continue
        out.append(d)
    return out


def _ns_python() -> str:
    for p in _NS_PYTHON_CANDIDATES:
        try:
            st = os.stat(p)
        except OSError:
            continue
        if st.st_mode & 0o001:  # world-executable: the dropped uid can run it
            return os.path.realpath(p)
    raise SandboxError("namespaces: no world-executable python3 found (looked at %s)" % ", ".join(_NS_PYTHON_CANDIDATES))


@functools.lru_cache(maxsize=None)
def _probe(level: str) -> str | None:
    """None if `level` works here, else why not. Runs a real sandboxed snippet once per process."""
    if level == "rlimits":
        return None
    if os.geteuid() != 0:
        return "needs root (to drop to an unprivileged uid inside the namespaces)"
    for tool in ("unshare", "setpriv", "sh", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` not found"
    try:
        sb = ProcessSandbox(level)
        res = sb.run("import os\nassert os.getuid() != 0", Limits(wall_s=10))
    except SandboxError as e:
        return str(e)
    if not res.success:
        return f"probe failed: {res.error}: {res.message} {res.stderr[-300:]}"
    return None


def get_sandbox(isolation: str = "auto") -> ProcessSandbox:
    """The sandbox for `isolation`; "auto" picks the strongest level that works here (probed once).
    Asking for "namespaces" where it does not work raises SandboxError: we never silently downgrade."""
    if isolation == "auto":
        return ProcessSandbox("namespaces") if _probe("namespaces") is None else ProcessSandbox("rlimits")
    if isolation not in LEVELS:
        raise SandboxError(f"unknown isolation {isolation!r}; use auto, rlimits or namespaces")
    why = _probe(isolation)
    if why is not None:
        raise SandboxError(f"isolation {isolation!r} is not available here: {why}")
    return ProcessSandbox(isolation)


def _sync(coro):
    """Run a coroutine to completion from sync code, even when called inside a running loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict = {}

    def target():
        try:
            box["v"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            box["e"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "e" in box:
        raise box["e"]
    return box["v"]
