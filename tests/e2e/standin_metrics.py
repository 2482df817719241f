"""A stand-in for the /metrics of vLLM pods, scraped by the real Prometheus of the e2e suite.

kwok pods run no process, so nothing serves vLLM's metrics; this server plays the pods of one
model, stable and canary track, with the metric names and labels real vLLM pods have after the
ServiceMonitor's relabelling (namespace, pod, llmctl_model, track). Counters grow at a fixed rate
per second from the server's start, so any window gives the same rates. A track's `health`
("ok" or "failing": half of its inference requests end in 5xx/abort, TTFT 4 s) is set by the test.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RPS = 5.0  # inference requests per second per track
BUCKETS = ("0.1", "0.25", "0.5", "1.0", "2.5", "5.0", "+Inf")


@dataclass
class Track:
    health: str = "ok"  # "ok" | "failing"


@dataclass
class MetricsStandIn:
    """The stand-in server: `url` to scrape, `tracks` to steer."""

    namespace: str
    model: str
    served_name: str
    tracks: dict[str, Track] = field(default_factory=lambda: {"stable": Track(), "canary": Track()})
    start: float = field(default_factory=time.monotonic)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"{host}:{port}"

    def serve(self) -> MetricsStandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                body = stand_in.exposition().encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def exposition(self) -> str:
        """Prometheus text format of every track at this moment."""
        t = time.monotonic() - self.start
        lines = [
            "# TYPE http_requests_total counter",
            "# TYPE vllm:request_success_total counter",
            "# TYPE vllm:time_to_first_token_seconds histogram",
            "# TYPE vllm:generation_tokens_total counter",
        ]
        for name, track in self.tracks.items():
            failing = track.health == "failing"
            total = RPS * t
            bad = total / 2 if failing else 0.0
            pod = {
                "namespace": self.namespace,
                "pod": f"{self.model}-{name}-0",
                "llmctl_model": self.model,
                "track": name,
            }
            base = ",".join(f'{k}="{v}"' for k, v in pod.items())
            http = f'{base},handler="/v1/chat/completions",method="POST"'
            lines.append(f'http_requests_total{{{http},status="2xx"}} {total - bad:.3f}')
            lines.append(f'http_requests_total{{{http},status="5xx"}} {bad:.3f}')
            engine = f'{base},model_name="{self.served_name}",engine="0"'
            for reason, n in (("stop", total - bad), ("abort", bad / 2), ("error", bad / 2)):
                lines.append(
                    f'vllm:request_success_total{{{engine},finished_reason="{reason}"}} {n:.3f}'
                )
            ttft = 4.0 if failing else 0.2
            for le in BUCKETS:
                n = total if le == "+Inf" or float(le) >= ttft else 0.0
                lines.append(
                    f'vllm:time_to_first_token_seconds_bucket{{{engine},le="{le}"}} {n:.3f}'
                )
            lines.append(f"vllm:time_to_first_token_seconds_count{{{engine}}} {total:.3f}")
            lines.append(f"vllm:time_to_first_token_seconds_sum{{{engine}}} {total * ttft:.3f}")
            lines.append(f"vllm:generation_tokens_total{{{engine}}} {total * 200:.3f}")
        return "\n".join(lines) + "\n"
