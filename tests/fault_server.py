"""A loopback OpenAI-compatible chat server that injects faults, for the HTTP backend's tests.

`FaultServer(faults, forever=None)` serves /v1/chat/completions. Each request consumes the next
fault from `faults`; once they run out, it answers normally (echoing the last user message), or
keeps injecting `forever` if set. Faults: "429", "500", "503", "401", "403", "404", "timeout"
(sleeps past the client's timeout), "garbage" (200 with a non-JSON body), "truncated" (200 with
half a JSON body), "empty" (200 with choices: []), "few" (returns 1 choice whatever n is).
Use as a context manager; `.url` is the base URL, `.requests` counts requests.
"""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ok_body(texts: list[str]) -> dict:
    return {
        "id": "chatcmpl-x", "object": "chat.completion", "created": 0, "model": "fault",
        "choices": [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                    for i, t in enumerate(texts)],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2 * len(texts), "total_tokens": 3 + 2 * len(texts)},
    }


class ServerThread:
    """Runs any ASGI app with uvicorn on a free loopback port in a daemon thread."""

    def __init__(self, app):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                                    timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.time() + 10
        while not self.server.started:
            if time.time() > deadline or not self.thread.is_alive():
                raise RuntimeError("server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=5)


class FaultServer(ServerThread):
    def __init__(self, faults: list[str] = (), forever: str | None = None, sleep_s: float = 3.0):
        self.reset(faults, forever, sleep_s)
        super().__init__(Starlette(routes=[Route("/v1/chat/completions", self.chat, methods=["POST"])]))

    def reset(self, faults: list[str] = (), forever: str | None = None, sleep_s: float = 3.0) -> "FaultServer":
        """A new fault script and fresh counts, so that one running server serves many tests."""
        self.faults, self.forever, self.sleep_s = list(faults), forever, sleep_s
        self.requests = 0
        self.bodies: list[dict] = []
        return self

    async def chat(self, request: Request) -> Response:
        self.requests += 1
        body = await request.json()
        self.bodies.append(body)
        fault = self.faults.pop(0) if self.faults else self.forever
        n = int(body.get("n") or 1)
        text = "echo: " + body["messages"][-1]["content"]
        if fault and fault.isdigit():
            return JSONResponse({"error": {"message": f"injected {fault}", "type": "x"}}, status_code=int(fault))
        if fault == "timeout":
            await asyncio.sleep(self.sleep_s)
        if fault == "garbage":
            return Response("<html>oops</html>{{", media_type="application/json")
        if fault == "truncated":
            raw = json.dumps(ok_body([text] * n))
            return Response(raw[: len(raw) // 2], media_type="application/json")
        if fault == "empty":
            return JSONResponse({**ok_body([]), "choices": []})
        if fault == "few":
            n = 1
        return JSONResponse(ok_body([f"{text} #{i}" for i in range(n)]))
