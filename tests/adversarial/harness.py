"""Runs corpus cases and checks containment AND that the host is unchanged.

Script: `.venv/bin/python tests/adversarial/harness.py` prints one line per case and "contained X/Y".
"""
from __future__ import annotations

import asyncio
import os
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).parent))
from corpus import CASES, Case  # noqa: E402

from flowforge.sandbox import Limits, get_sandbox  # noqa: E402
from flowforge.sandbox.core import _probe  # noqa: E402

SECRET = "ff-secret-9f1c2e7d"
REPO_FILE = str(Path(__file__).resolve().parents[2] / "pyproject.toml")


def available_levels() -> list[str]:
    return [lv for lv in ("bwrap", "unsafe-rlimits") if _probe(lv) is None]


def _planted_paths() -> list[Path]:
    """Where a hook bypass would plant a file for the host Python to run later: the stdlib dir of
    each sandbox interpreter (as root at unsafe-rlimits it is writable)."""
    import sysconfig

    dirs = {Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"]), Path("/usr/lib/python3.11")}
    return [d / name for d in dirs for name in ("ffadv_planted.py", "ffadv_planted.pth")]


class Host:
    """Canaries, a live listener, secrets in env and a private temp root for scratch dirs."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="ffadv-"))
        self.root.chmod(0o711)  # the sandbox's unprivileged uid must reach its scratch dirs in here
        self.canary_dir = self.root / "canary"
        self.canary_dir.mkdir()
        self.canary = self.canary_dir / "canary.txt"
        self.canary.write_text("original")
        self.ssh_dir = self.root / "home" / ".ssh"
        self.ssh_dir.mkdir(parents=True)
        self.ssh_key = self.ssh_dir / "id_ed25519"
        self.ssh_key.write_text("CANARY-PRIVATE-KEY-" + SECRET)
        self.ssh_key.chmod(0o600)
        self.pwned = self.root / "PWNED"
        self.scratch_root = self.root / "scratch"
        self.scratch_root.mkdir()
        os.environ["FLOWFORGE_TEST_SECRET"] = SECRET
        os.environ["OPENAI_API_KEY"] = "sk-" + SECRET
        tempfile.tempdir = str(self.scratch_root)  # sandbox scratch dirs land here: leftover marker
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            c.close()

    def fill(self, code: str) -> str:
        """Placeholders {NAME} filled; {{ and }} stand for literal braces, single braces stay."""
        values = dict(PORT=self.port, SSH_KEY=self.ssh_key, SSH_DIR=self.ssh_dir, CANARY=self.canary,
                      CANARY_DIR=self.canary_dir, PWNED=self.pwned, REPO_FILE=REPO_FILE)
        for k, v in values.items():
            code = code.replace("{" + k + "}", str(v))
        return code.replace("{{", "{").replace("}}", "}")

    def fill_any(self, x):
        if isinstance(x, str):
            return self.fill(x)
        if isinstance(x, list):
            return [self.fill(t) for t in x]
        return x

    def leftovers(self) -> list[str]:
        """Processes that are our children, or whose cwd is one of our scratch dirs."""
        me = psutil.Process()
        found = [f"child {p.pid}" for p in me.children(recursive=True)]
        for p in psutil.process_iter(["pid", "cwd"]):
            cwd = p.info.get("cwd") or ""
            if cwd.startswith(str(self.scratch_root)):
                found.append(f"pid {p.info['pid']} cwd {cwd}")
        return found

    def host_problems(self) -> list[str]:
        probs = []
        if not self.canary.exists() or self.canary.read_text() != "original":
            probs.append("canary changed")
        if (self.canary.stat().st_mode & 0o777) != 0o644 if self.canary.exists() else False:
            probs.append("canary mode changed")
        if sorted(os.listdir(self.canary_dir)) != ["canary.txt"]:
            probs.append("canary dir changed")
        if self.pwned.exists():
            probs.append("PWNED created")
        if self.connections:
            probs.append(f"listener got {self.connections} connection(s)")
        if os.listdir(self.scratch_root):
            probs.append("scratch dir not deleted")
        planted = [str(p) for p in _planted_paths() if p.exists()]
        if planted:
            probs.append(f"planted {planted}")
        if Path("/tmp/escaped.txt").exists():
            probs.append("/tmp/escaped.txt written")
        return probs

    def reset(self):
        self.canary_dir.mkdir(exist_ok=True)
        self.canary.write_text("original")
        self.canary.chmod(0o644)
        for p in self.canary_dir.iterdir():
            if p != self.canary:
                p.unlink()
        self.pwned.unlink(missing_ok=True)
        for p in _planted_paths():
            p.unlink(missing_ok=True)
        Path("/tmp/escaped.txt").unlink(missing_ok=True)
        self.connections = 0


async def _echo_op(name, kwargs):
    return {"answer": str(kwargs)[:100]}


def run_case(host: Host, case: Case, level: str) -> tuple[bool, str]:
    """(contained, why-not)."""
    host.reset()
    kw = {"wall_s": 1.2, "memory_mb": 512, "max_output_bytes": 200_000, "isolation": level}
    kw.update(case.limits)
    limits = Limits(**kw)
    box = get_sandbox(level)
    code = host.fill(case.code)
    t0 = time.monotonic()
    if case.kind == "wf":
        res = asyncio.run(box.run_workflow(code, "problem", _echo_op, limits=limits))
    elif case.kind == "tests":  # a program against hidden tests: the verdict must not be forgeable
        res = box.run_tests(code, host.fill_any(case.tests), entry_point=case.entry_point, limits=limits)
    else:
        res = box.run(code, limits)
    elapsed = time.monotonic() - t0
    why = []
    text = f"{res.stdout}\n{res.stderr}\n{res.message}\n{res.result}"
    if "ESCAPED" in text:
        why.append("ESCAPED printed")
    if SECRET in text:
        why.append("secret leaked")
    if case.expect != "any" and res.success:
        why.append("code reported success")
    if case.expect == "timeout" and not res.timeout:
        why.append(f"expected timeout, got {res.error}")
    if case.expect == "memory" and not res.memory_exceeded:
        why.append(f"expected memory_exceeded, got {res.error}: {res.message[:80]}")
    if elapsed > limits.wall_s + 10:  # the wall clock starts once the child is up; start-up on a busy machine is extra
        why.append(f"took {elapsed:.1f}s")
    why += host.host_problems()
    deadline = time.monotonic() + 1.0
    while (left := host.leftovers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        why.append(f"leftover processes: {left}")
    return (not why), "; ".join(why) or f"{res.error}: {res.message[:70]}"


if __name__ == "__main__":
    host = Host()
    ok = total = 0
    t0 = time.monotonic()
    for level in available_levels():
        for case in CASES:
            if level not in case.levels:
                continue
            contained, why = run_case(host, case, level)
            ok += contained
            total += 1
            print(f"{'ok  ' if contained else 'FAIL'} {level:10s} {case.name:28s} {why}")
    print(f"contained {ok}/{total} in {time.monotonic() - t0:.1f}s (levels: {', '.join(available_levels())})")
    sys.exit(0 if ok == total else 1)
