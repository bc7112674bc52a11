"""math-verify in killable worker processes: `equivalent(gold, pred, timeout_s)`.

sympy can spend unbounded time (and memory) on an answer such as `9^{9^{9}}`, inside C code that
no signal interrupts, so it never runs in the host process: each check goes to a long-lived
worker (`python -m flowforge.tasks.math_worker`, address space capped), and a worker that misses
its deadline is killed and replaced. Safe to call from any thread.
"""
from __future__ import annotations

import json
import os
import queue
import subprocess
import sys
import threading

WORKER_MEMORY_MB = 2048
START_TIMEOUT_S = 120.0  # importing sympy on a loaded machine


class WorkerError(RuntimeError):
    """The worker could not start or answered garbage (infrastructure, not the answer's fault)."""


class _Worker:
    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-m", "flowforge.tasks.math_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
                                     start_new_session=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self.lines.get(timeout=START_TIMEOUT_S)
        except queue.Empty:
            first = None
        if first != "ready":
            self.kill()
            raise WorkerError("the math-verify worker did not start")

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put(None)

    def ask(self, gold: str, pred: str, timeout_s: float) -> bool | None:
        """True/False, or None when the deadline passed (the worker is then dead)."""
        self.proc.stdin.write(json.dumps({"gold": gold, "pred": pred}) + "\n")
        self.proc.stdin.flush()
        try:
            line = self.lines.get(timeout=timeout_s)
        except queue.Empty:
            self.kill()
            return None
        if line is None:
            raise WorkerError("the math-verify worker died")
        return bool(json.loads(line)["ok"])

    def kill(self):
        try:
            os.killpg(self.proc.pid, 9)
        except OSError:
            pass
        self.proc.wait()


_idle: list[_Worker] = []
_lock = threading.Lock()
_busy = threading.BoundedSemaphore(max(2, os.cpu_count() or 1))  # at most this many workers exist


def equivalent(gold: str, pred: str, timeout_s: float = 5.0) -> bool | None:
    """Whether math-verify finds `pred` equivalent to `gold` (both LaTeX without $...$); None if it
    did not decide within timeout_s."""
    with _busy:
        with _lock:
            worker = _idle.pop() if _idle else None
        if worker is None or worker.proc.poll() is not None:
            worker = _Worker()
        try:
            ok = worker.ask(gold, pred, timeout_s)
        except (OSError, ValueError, KeyError, WorkerError) as e:
            worker.kill()
            raise WorkerError(f"the math-verify worker failed: {e}") from e
        if ok is not None:
            with _lock:
                _idle.append(worker)
        return ok


def _serve():
    import logging
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY_MB << 20, WORKER_MEMORY_MB << 20))
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    print("ready", flush=True)
    for line in sys.stdin:
        req = json.loads(line)
        try:
            g, p = parse(f"${req['gold']}$"), parse(f"${req['pred']}$")
            if g and p:
                ok = bool(verify(g, p))
            else:  # unparseable: whitespace-insensitive string equality
                ok = "".join(req["gold"].split()) == "".join(req["pred"].split())
        except (Exception, MemoryError):
            ok = False
        print(json.dumps({"ok": ok}), flush=True)


if __name__ == "__main__":
    _serve()
