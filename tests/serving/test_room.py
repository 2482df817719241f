"""The room middleware (llmctl/serving/room.py), driven as vLLM's ASGI app would drive it."""

from __future__ import annotations

import asyncio

import pytest

from llmctl.serving.room import MAX_IN_FLIGHT_ENV, MAX_WAITING_ENV, RoomMiddleware


class StreamingApp:
    """A stand-in for vLLM's app: /v1 requests stream until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.calls: list[str] = []

    async def __call__(self, scope, receive, send) -> None:
        self.calls.append(scope["path"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if scope["path"].startswith("/v1/"):
            await self.release.wait()
            if scope["path"] == "/v1/boom":
                raise RuntimeError("engine died")
        await send({"type": "http.response.body", "body": b"done"})


async def _get(app, path: str) -> tuple[int, bytes]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b""}

    async def send(message):
        sent.append(message)

    await app({"type": "http", "path": path, "method": "GET"}, receive, send)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@pytest.fixture
def limits(monkeypatch):
    monkeypatch.setenv(MAX_IN_FLIGHT_ENV, "2")
    monkeypatch.setenv(MAX_WAITING_ENV, "3")


def test_room_until_the_in_flight_limit_then_503_until_a_request_ends(limits) -> None:
    async def scenario() -> list[int]:
        inner = StreamingApp()
        room = RoomMiddleware(inner, waiting=lambda: None)
        statuses = [(await _get(room, "/llmctl/room"))[0]]
        first = asyncio.create_task(_get(room, "/v1/chat/completions"))
        second = asyncio.create_task(_get(room, "/v1/completions"))
        await asyncio.sleep(0)
        statuses.append((await _get(room, "/llmctl/room"))[0])  # 2 in flight: full
        inner.release.set()
        await asyncio.gather(first, second)
        statuses.append((await _get(room, "/llmctl/room"))[0])
        assert "/llmctl/room" not in inner.calls  # answered by the middleware itself
        return statuses

    assert asyncio.run(scenario()) == [200, 503, 200]


def test_a_failed_request_still_leaves(limits) -> None:
    async def scenario() -> int:
        inner = StreamingApp()
        room = RoomMiddleware(inner, waiting=lambda: None)
        inner.release.set()
        with pytest.raises(RuntimeError):
            await _get(room, "/v1/boom")
        return room.in_flight

    assert asyncio.run(scenario()) == 0


def test_vllms_queue_at_its_limit_means_no_room(limits) -> None:
    async def scenario() -> tuple[tuple[int, bytes], tuple[int, bytes]]:
        waiting = [2.0]
        room = RoomMiddleware(StreamingApp(), waiting=lambda: waiting[0])
        below = await _get(room, "/llmctl/room")
        waiting[0] = 3.0
        return below, await _get(room, "/llmctl/room")

    below, full = asyncio.run(scenario())
    assert below[0] == 200
    assert full == (503, b"3 requests waiting (limit 3)")


def test_other_paths_pass_through_uncounted(limits) -> None:
    async def scenario() -> tuple[int, list[str]]:
        inner = StreamingApp()
        room = RoomMiddleware(inner, waiting=lambda: None)
        status, _ = await _get(room, "/health")
        return status, inner.calls

    assert asyncio.run(scenario()) == (200, ["/health"])


def test_waiting_is_read_from_the_process_registry() -> None:
    prometheus_client = pytest.importorskip("prometheus_client")
    from llmctl.serving.room import waiting_in_vllm

    registry = prometheus_client.CollectorRegistry()
    gauge = prometheus_client.Gauge(
        "vllm:num_requests_waiting", "waiting", ["engine"], registry=registry
    )
    gauge.labels("0").set(4)
    gauge.labels("1").set(3)
    import llmctl.serving.room as room_module

    original = prometheus_client.REGISTRY
    try:
        prometheus_client.REGISTRY = registry
        assert waiting_in_vllm() == 7.0  # summed over engines
    finally:
        prometheus_client.REGISTRY = original
    assert room_module.WAITING_GAUGE == "vllm:num_requests_waiting"
