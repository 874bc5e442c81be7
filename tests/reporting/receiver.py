"""A real HTTP receiver for the reporting webhook tests: http.server on a
free loopback port, in a thread, HTTP/1.1 keep-alive. Each request is
recorded (headers and body); ``answer`` decides the answer per request
(a status code, or a number of seconds to stall before answering)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    connection: tuple  # the client's (host, port): the same one when kept alive
    ok: bool = False  # answered 2xx in time

    @property
    def payload(self) -> dict:
        return json.loads(self.body)

    @property
    def message_id(self) -> int:
        return self.payload["data"]["message"]["id"]

    @property
    def type(self) -> str:
        return self.payload["type"]


@dataclass
class Answer:
    status: int = 204
    stall: float = 0.0  # seconds before answering (a timeout test)


@dataclass
class Receiver:
    url: str
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    answer: Callable[[Received], Answer] = lambda request: Answer()
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answered_ok(self) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.ok]

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)

    def wait_for(self, count: int, timeout: float = 30) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.answered_ok()) >= count:
                return self.answered_ok()
            time.sleep(0.02)
        raise AssertionError(f"{len(self.answered_ok())} of {count} notifications received")


def start_receiver(path: str = "/hook") -> Receiver:
    holder: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            receiver = holder["receiver"]
            length = int(self.headers.get("content-length", 0))
            request = Received(
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length),
                at=time.monotonic(),
                connection=self.client_address,
            )
            with receiver.lock:  # in order of arrival
                receiver.received.append(request)
            answer = receiver.answer(request)
            if answer.stall:
                time.sleep(answer.stall)
            request.ok = 200 <= answer.status < 300 and not answer.stall
            try:
                self.send_response(answer.status)
                self.send_header("content-length", "0")
                self.end_headers()
            except OSError:
                pass  # the sender gave up (timeout)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = Receiver(url=f"http://127.0.0.1:{server.server_address[1]}{path}", server=server)
    holder["receiver"] = receiver
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return receiver
