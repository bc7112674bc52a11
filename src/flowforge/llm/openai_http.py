"""OpenAI-compatible chat backend (`openai:MODEL@BASE_URL`) over the `openai` AsyncOpenAI client.

- A semaphore bounds in-flight requests.
- Transient failures (429, 5xx, timeouts, connection errors, malformed replies such as garbage
  JSON or empty `choices`) are retried with exponential backoff and jitter, at most `retries`
  times; then BackendError with the last reason. Connection failures on every try become
  BackendConfigError("cannot reach ...").
- 401/403 (auth) and 404 (wrong model or path) fail at once with BackendConfigError.
- `n` goes to the API; if the server returns fewer choices, the rest come from extra calls.
Defaults come from $FLOWFORGE_HTTP_CONCURRENCY (16), $FLOWFORGE_HTTP_RETRIES (4) and
$FLOWFORGE_HTTP_TIMEOUT (120 s).
"""
from __future__ import annotations

import asyncio
import os
import random
import time

import openai

from flowforge.errors import BackendConfigError, BackendError
from flowforge.llm.base import Messages
from flowforge.llm.sampling import truncate_at_stop
from flowforge.types import Completion, Usage


class _Malformed(Exception):
    """The server answered 200 but the body is not a usable chat completion."""


class OpenAILLM:
    def __init__(
        self,
        model: str,
        base_url: str,
        *,
        api_key: str | None = None,
        concurrency: int | None = None,
        retries: int | None = None,
        timeout_s: float | None = None,
        backoff_s: float = 0.5,
        max_backoff_s: float = 8.0,
    ):
        env = os.environ.get
        concurrency = concurrency or int(env("FLOWFORGE_HTTP_CONCURRENCY", 16))
        retries = int(env("FLOWFORGE_HTTP_RETRIES", 4)) if retries is None else retries
        timeout_s = timeout_s or float(env("FLOWFORGE_HTTP_TIMEOUT", 120))
        self.name = f"openai:{model}@{base_url}"
        self.model, self.base_url = model, base_url
        self.usage = Usage()
        self.retries, self.backoff_s, self.max_backoff_s = retries, backoff_s, max_backoff_s
        self._concurrency, self._timeout_s = concurrency, timeout_s
        self._api_key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self._loop = None  # client and semaphore belong to one event loop; rebuilt on a new one

    def _session(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._sem = asyncio.Semaphore(self._concurrency)
            # The client's own retries are off: this class retries, so the bound is one number.
            self._client = openai.AsyncOpenAI(
                base_url=self.base_url, api_key=self._api_key, timeout=self._timeout_s, max_retries=0
            )
        return self._client, self._sem

    async def complete(
        self,
        messages: Messages,
        *,
        n: int = 1,
        temperature: float = 0.0,
        max_tokens: int = 256,
        stop: list[str] | None = None,
        seed: int | None = None,
    ) -> Completion:
        t0 = time.perf_counter()
        usage = Usage(calls=1)
        texts: list[str] = []
        while len(texts) < n:  # servers that ignore n return fewer choices: top up
            got, u = await self._call(messages, n - len(texts), temperature, max_tokens, stop, seed)
            texts += [truncate_at_stop(t, stop) for t in got]
            usage.prompt_tokens = usage.prompt_tokens or u.prompt_tokens
            usage.completion_tokens += u.completion_tokens
        usage.seconds = time.perf_counter() - t0
        self.usage.add(usage)
        return Completion(texts[:n], usage)

    async def _call(self, messages, n, temperature, max_tokens, stop, seed) -> tuple[list[str], Usage]:
        kwargs = dict(model=self.model, messages=messages, temperature=temperature, max_tokens=max_tokens)
        if n > 1:
            kwargs["n"] = n
        if stop:
            kwargs["stop"] = stop
        if seed is not None:
            kwargs["seed"] = seed
        reason, unreachable = "", True
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
            client, sem = self._session()
            try:
                async with sem:
                    resp = await client.chat.completions.create(**kwargs)
                return self._parse(resp)
            except (openai.AuthenticationError, openai.PermissionDeniedError) as e:
                raise BackendConfigError(
                    f"{self.base_url} refused the credentials (HTTP {e.status_code}); set OPENAI_API_KEY"
                ) from e
            except openai.NotFoundError as e:
                raise BackendConfigError(
                    f"{self.base_url}: model {self.model!r} or the chat completions route was not found (HTTP 404)"
                ) from e
            except (openai.RateLimitError, openai.InternalServerError) as e:
                reason, unreachable = f"HTTP {e.status_code}: {_short(e)}", False
            except openai.APITimeoutError:
                reason, unreachable = "request timed out", False
            except openai.APIConnectionError as e:
                reason = f"connection error: {_short(e.__cause__ or e)}"
            except (_Malformed, openai.APIResponseValidationError, ValueError) as e:
                reason, unreachable = f"malformed response: {_short(e)}", False
            except openai.APIStatusError as e:  # other 4xx: the request itself is wrong
                if e.status_code >= 500:
                    reason, unreachable = f"HTTP {e.status_code}: {_short(e)}", False
                    continue
                raise BackendError(f"{self.base_url} rejected the request (HTTP {e.status_code}): {_short(e)}") from e
        if unreachable:
            raise BackendConfigError(f"cannot reach {self.base_url} after {self.retries + 1} tries ({reason})")
        raise BackendError(f"{self.name}: giving up after {self.retries + 1} tries; last error: {reason}")

    @staticmethod
    def _parse(resp) -> tuple[list[str], Usage]:
        choices = getattr(resp, "choices", None)  # garbage bodies parse to str/dict, not a model
        if not isinstance(choices, list) or not choices:
            raise _Malformed("no choices in the response")
        texts = []
        for c in choices:
            content = c.message.content if c.message is not None else None
            if content is None:
                raise _Malformed("a choice has no message content")
            texts.append(content)
        u = resp.usage
        return texts, Usage(
            prompt_tokens=(u.prompt_tokens or 0) if u else 0,
            completion_tokens=(u.completion_tokens or 0) if u else 0,
        )


def _short(e: BaseException) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__
