"""The room middleware: whether this replica has room for more requests, for the gateway.

STDLIB ONLY (delivered with the launcher; imported by vLLM's own API server process). The
launcher passes `--middleware llmctl_serving.room.RoomMiddleware` to `vllm serve` when the model
sits behind a gateway that spills excess to another cluster, with the limits in the environment:

- LLMCTL_ROOM_MAX_IN_FLIGHT: requests this replica may have in flight (max_num_seqs + W);
- LLMCTL_ROOM_MAX_WAITING: requests vLLM may hold waiting in its queue (W).

The middleware counts the /v1 requests in flight through this API server (a streamed completion
counts until its last byte), and answers `GET /llmctl/room` itself: 200 while there is room, 503
when the count reaches its limit or vLLM's own `vllm:num_requests_waiting` gauge (read from the
process's Prometheus registry, when vLLM has one) reaches W. Envoy's active health check polls
that path; a 503 takes the replica out of the route's first priority until it answers 200 again,
and Envoy sends the share it would have taken to the next priority (the other cluster).
Everything else passes through untouched; vLLM's API key still guards /v1.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

ROOM_PATH = "/llmctl/room"
MAX_IN_FLIGHT_ENV = "LLMCTL_ROOM_MAX_IN_FLIGHT"
MAX_WAITING_ENV = "LLMCTL_ROOM_MAX_WAITING"
WAITING_GAUGE = "vllm:num_requests_waiting"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


def _limit(name: str) -> int:
    try:
        value = int(os.environ.get(name, ""))
    except ValueError:
        return 0
    return max(value, 0)


def waiting_in_vllm() -> float | None:
    """vLLM's queue as its own gauge says (summed over engines), or None when it cannot be read."""
    try:
        from prometheus_client import REGISTRY  # vLLM's dependency; absent outside vLLM
    except ImportError:
        return None
    total, seen = 0.0, False
    try:
        for family in REGISTRY.collect():
            if family.name != WAITING_GAUGE:
                continue
            for sample in family.samples:
                if sample.name == WAITING_GAUGE:
                    total += sample.value
                    seen = True
    except Exception:  # a broken collector must not take the health answer down with it
        return None
    return total if seen else None


class RoomMiddleware:
    """ASGI middleware: counts requests in flight and answers /llmctl/room (see the module)."""

    def __init__(self, app: App, waiting: Callable[[], float | None] = waiting_in_vllm) -> None:
        self.app = app
        self.in_flight = 0
        self.max_in_flight = _limit(MAX_IN_FLIGHT_ENV)
        self.max_waiting = _limit(MAX_WAITING_ENV)
        self._waiting = waiting

    def has_room(self) -> tuple[bool, str]:
        """(room?, why) from the in-flight count and vLLM's queue."""
        if self.max_in_flight and self.in_flight >= self.max_in_flight:
            return False, f"{self.in_flight} requests in flight (limit {self.max_in_flight})"
        waiting = self._waiting()
        if self.max_waiting and waiting is not None and waiting >= self.max_waiting:
            return False, f"{waiting:g} requests waiting (limit {self.max_waiting})"
        return True, f"{self.in_flight} requests in flight"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path == ROOM_PATH:
            room, why = self.has_room()
            body = why.encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200 if room else 503,
                    "headers": [
                        (b"content-type", b"text/plain"),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        if not path.startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
