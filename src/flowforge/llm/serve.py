"""`flowforge serve`: an OpenAI-compatible HTTP server over any flowforge backend, so several
processes share one loaded (and micro-batched) model.

    flowforge serve --model embedded --host 127.0.0.1 --port 8011
    # then: load_llm("openai:embedded@http://127.0.0.1:8011/v1")

Routes: POST /v1/chat/completions (non-streaming; n, temperature, max_tokens or
max_completion_tokens, stop, seed) and GET /v1/models. Errors use OpenAI's error body shape.
"""
from __future__ import annotations

import time
import uuid

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from flowforge.errors import BackendError
from flowforge.llm.base import LLM


def _error(status: int, message: str, kind: str = "invalid_request_error") -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind, "code": status}}, status_code=status)


def _parse(body) -> dict:
    """Validate a chat request body; ValueError names the bad field."""
    if not isinstance(body, dict):
        raise ValueError("body must be a JSON object")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(
        isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str) for m in msgs
    ):
        raise ValueError("'messages' must be a non-empty list of {role, content} strings")
    if body.get("stream"):
        raise ValueError("streaming is not supported")
    stop = body.get("stop")
    stop = [stop] if isinstance(stop, str) else stop
    if stop is not None and not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        raise ValueError("'stop' must be a string or a list of strings")
    kw = dict(
        n=int(body.get("n") or 1),
        temperature=float(body.get("temperature", 1.0) if body.get("temperature") is not None else 1.0),
        max_tokens=int(body.get("max_completion_tokens") or body.get("max_tokens") or 256),
        stop=stop,
        seed=None if body.get("seed") is None else int(body["seed"]),
    )
    if kw["n"] < 1 or kw["max_tokens"] < 1 or kw["temperature"] < 0:
        raise ValueError("n and max_tokens must be >= 1 and temperature >= 0")
    return {"messages": [{"role": m["role"], "content": m["content"]} for m in msgs], **kw}


def build_app(llm: LLM) -> Starlette:
    async def chat(request: Request) -> JSONResponse:
        try:
            req = _parse(await request.json())
        except (ValueError, TypeError) as e:
            return _error(400, str(e))
        try:
            c = await llm.complete(req.pop("messages"), **req)
        except BackendError as e:
            return _error(502, str(e), "backend_error")
        u = c.usage
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": llm.name,
            "choices": [
                {"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "stop"}
                for i, t in enumerate(c.texts)
            ],
            "usage": {
                "prompt_tokens": u.prompt_tokens,
                "completion_tokens": u.completion_tokens,
                "total_tokens": u.prompt_tokens + u.completion_tokens,
            },
        })

    async def models(request: Request) -> JSONResponse:
        return JSONResponse(
            {"object": "list", "data": [{"id": llm.name, "object": "model", "created": 0, "owned_by": "flowforge"}]}
        )

    return Starlette(routes=[
        Route("/v1/chat/completions", chat, methods=["POST"]),
        Route("/v1/models", models, methods=["GET"]),
    ])


def serve(llm: LLM, host: str = "127.0.0.1", port: int = 8011, log_level: str = "warning") -> None:
    """Run the server in the foreground (blocks)."""
    import uvicorn

    uvicorn.run(build_app(llm), host=host, port=port, log_level=log_level)
