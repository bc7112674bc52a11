"""The micro-batching worker shared by the local engines (transformers, CTranslate2).

Concurrent requests go onto one queue; a single worker thread drains it, gathering requests that
arrive within `gather_s` of each other (up to `max_rows` rows), and hands them to the engine's
`_generate` as ONE batch. A request carries its own sampling parameters, so requests with
different parameters share a batch.

At interpreter exit every engine is closed (atexit): the batch in flight stops at its next token
and the worker thread is joined. A daemon thread left inside native code at finalisation is killed
mid-call and can abort the process ("terminate called without an active exception").
"""
from __future__ import annotations

import atexit
import concurrent.futures
import queue
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from flowforge.errors import BackendError
from flowforge.llm.base import Messages


@dataclass
class Request:
    prompt_ids: list[int]
    rows: int  # rows to generate (1 for greedy, n for sampling)
    copies: int  # how many texts each generated row stands for
    temperature: float
    max_new: int
    stop: list[str]
    seeds: list[int]
    constraint: Any = None  # an llm.constrain.Constraint (token-masking engines only)
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class BatchingEngine:
    """A tokenizer + the worker thread that batches requests; subclasses implement `_generate`,
    which returns, per request, (texts, completion tokens) and may watch `self._closed` to end a
    batch early."""

    def __init__(self, tokenizer, *, max_rows: int = 32, gather_s: float = 0.004):
        self.tok = tokenizer
        self.max_rows, self.gather_s = max_rows, gather_s
        self.batches = 0  # number of batches generated (tests check batching)
        self._q: queue.Queue[Request | None] = queue.Queue()  # None: wake up and stop
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="flowforge-generate", daemon=True)
        self._thread.start()
        _LIVE.add(self)

    def close(self, timeout: float = 30.0) -> None:
        """Stop the worker: the batch in flight ends at its next token, pending requests fail with
        BackendError, the thread is joined. Idempotent; called for every engine at exit."""
        self._closed.set()
        self._q.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join(timeout)

    # -- request side (any thread) -------------------------------------------------------
    def encode(self, messages: Messages) -> list[int]:
        if self.tok.chat_template:
            text = self.tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        else:  # plain checkpoints without a template
            text = "\n\n".join(m["content"] for m in messages) + "\n\n"
        return self.tok(text, add_special_tokens=False)["input_ids"]

    def submit(self, req: Request) -> concurrent.futures.Future:
        if self._closed.is_set():
            raise BackendError("the local model engine is closed (the process is exiting)")
        self._q.put(req)
        return req.future

    # -- worker thread --------------------------------------------------------------------
    def _generate(self, reqs: list[Request]) -> list[tuple[list[str], int]]:
        raise NotImplementedError

    def _loop(self) -> None:
        while not self._closed.is_set():
            first = self._q.get()
            if first is None:
                break
            batch, rows = [first], first.rows
            while rows < self.max_rows:  # gather requests that arrive within gather_s of each other
                try:
                    nxt = self._q.get(timeout=self.gather_s)
                except queue.Empty:
                    break
                if nxt is None:
                    break
                batch.append(nxt)
                rows += nxt.rows
            live = [r for r in batch if r.future.set_running_or_notify_cancel()]
            if not live:
                continue
            try:
                results = self._generate(live)
            except Exception as e:  # a failing batch fails its requests, never the worker
                err = BackendError(f"local generation failed: {type(e).__name__}: {e}")
                for r in live:
                    r.future.set_exception(err)
                continue
            self.batches += 1
            if self._closed.is_set():  # cut short by close(): not a real answer
                for r in live:
                    r.future.set_exception(BackendError("the local model engine was closed mid-generation"))
                break
            for r, res in zip(live, results):
                r.future.set_result(res)
        while True:  # closed: fail whatever is still queued
            try:
                r = self._q.get_nowait()
            except queue.Empty:
                return
            if r is not None and r.future.set_running_or_notify_cancel():
                r.future.set_exception(BackendError("the local model engine is closed (the process is exiting)"))


_LIVE: "weakref.WeakSet[BatchingEngine]" = weakref.WeakSet()  # every engine, memoised or not


@atexit.register
def _close_engines() -> None:
    for engine in list(_LIVE):
        engine.close()
