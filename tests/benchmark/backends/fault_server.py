"""A scripted, fault-injecting OpenAI-compatible HTTP server on 127.0.0.1 (stdlib only).

Each POST pops the next action from the script; when the script is used up, `default` answers.
Actions: ok(k) (k choices; None = as many as asked), status(code, headers), hang(seconds), malformed(body)."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

PROMPT_TOKENS = 11
TOKENS_PER_CHOICE = 5


@dataclass
class Action:
    kind: str  # ok | status | hang | malformed
    choices: int | None = None
    code: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0
    body: bytes = b""
    delay: float = 0.0  # wait before answering (to observe concurrency)


def ok(choices: int | None = None, delay: float = 0.0) -> Action:
    return Action("ok", choices=choices, delay=delay)


def status(code: int, headers: dict[str, str] | None = None) -> Action:
    return Action("status", code=code, headers=headers or {})


def hang(seconds: float) -> Action:
    return Action("hang", seconds=seconds)


def malformed(body: bytes = b'{"choices": [ not json') -> Action:
    return Action("malformed", body=body)


class FaultServer:
    def __init__(self, script: list[Action] | None = None, default: Action | None = None):
        self.script = list(script or [])
        self.default = default or ok()
        self.requests: list[dict[str, Any]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)

    def next_action(self, body: dict[str, Any]) -> Action:
        with self.lock:
            self.requests.append(body)
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            return self.script.pop(0) if self.script else self.default

    def done(self) -> None:
        with self.lock:
            self.in_flight -= 1


def completion_body(request: dict[str, Any], choices: int) -> dict[str, Any]:
    return {"id": "cmpl-test", "object": "chat.completion", "created": int(time.time()), "model": request["model"],
            "choices": [{"index": i, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"answer {i} seed={request.get('seed')}"}}
                        for i in range(choices)],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": TOKENS_PER_CHOICE * choices,
                      "total_tokens": PROMPT_TOKENS + TOKENS_PER_CHOICE * choices}}


def _handler(server: FaultServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            return None

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            action = server.next_action(body)
            try:
                self._answer(action, body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout): expected for `hang`
            finally:
                server.done()

        def _answer(self, action: Action, body: dict[str, Any]) -> None:
            time.sleep(action.delay)
            if action.kind == "hang":
                time.sleep(action.seconds)
                return self._send(200, completion_body(body, 1))
            if action.kind == "status":
                return self._send(action.code, {"error": {"message": f"scripted {action.code}", "type": "test"}},
                                  action.headers)
            if action.kind == "malformed":
                return self._send_raw(200, action.body)
            return self._send(200, completion_body(body, action.choices or body.get("n") or 1))

        def _send(self, code: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            self._send_raw(code, json.dumps(payload).encode(), headers)

        def _send_raw(self, code: int, data: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
