"""The llama.cpp backend: server lifecycle against a small stand-in server (fast), and the real llama-server with the
embedded code model (slow, when built)."""

import stat
import sys
import textwrap
import time

import pytest

from benchmark.backends import get_backend
from benchmark.backends.llamacpp import find_server_binary
from benchmark.errors import BackendError

from .conftest import make_request

STAND_IN = textwrap.dedent('''\
    #!{python}
    """A stand-in llama-server: /health, and chat completions that echo the request's n and temperature."""
    import json, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    args = sys.argv[1:]
    port = int(args[args.index("--port") + 1])
    if "{mode}" == "crash":
        print("error: failed to load model", flush=True)
        sys.exit(3)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def _send(self, code, body):
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            self._send(200, {{"status": "ok"}})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            n = body.get("n", 1)
            text = f"n={{n}} t={{body['temperature']}} args={{' '.join(args[2:])}}"
            choices = [{{"index": i, "message": {{"role": "assistant", "content": text}}, "finish_reason": "stop"}}
                       for i in range(n)]
            self._send(200, {{"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": choices, "usage": {{"prompt_tokens": 5, "completion_tokens": 3 * n,
                                                            "total_tokens": 5 + 3 * n}}}})

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
''')


def _stand_in(tmp_path, mode="serve"):
    path = tmp_path / "llama-server"
    path.write_text(STAND_IN.format(python=sys.executable, mode=mode))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    return path, gguf


def test_the_backend_starts_its_server_sends_n_and_stops_it(tmp_path, task, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path / "cache"))
    server, gguf = _stand_in(tmp_path)
    backend = get_backend(f"llamacpp/{gguf}", {"server": str(server), "threads": "1", "parallel": "4"})
    out = backend.generate_batch([make_request(task, n=1, temperature=0.0), make_request(task, n=3, temperature=1.0)])
    assert [len(o) for o in out] == [1, 3]
    assert out[1][0].text.startswith("n=3 t=1.0") and "-t 1" in out[1][0].text and "-np 4" in out[1][0].text
    assert out[1][0].compute_s == pytest.approx(out[1][0].latency_s / 3, abs=1e-3)  # 3 choices share a request
    process = backend._server._process
    backend.close()
    assert process.wait(5) is not None


def test_a_server_that_died_is_started_again(tmp_path, task, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path / "cache"))
    server, gguf = _stand_in(tmp_path)
    backend = get_backend(f"llamacpp/{gguf}", {"server": str(server)})
    backend.generate(make_request(task))
    backend._server._process.kill()
    backend._server._process.wait(5)
    assert backend.generate(make_request(task))[0].error is None
    backend.close()


def test_a_server_that_cannot_load_the_model_is_a_clear_error(tmp_path, task, monkeypatch):
    monkeypatch.setenv("ADAPTBENCH_CACHE", str(tmp_path / "cache"))
    server, gguf = _stand_in(tmp_path, mode="crash")
    backend = get_backend(f"llamacpp/{gguf}", {"server": str(server)})
    with pytest.raises(BackendError, match="exited while loading model.gguf") as caught:
        backend.generate(make_request(task))
    assert "failed to load model" in caught.value.message  # the log's tail is in the message


def test_a_missing_server_or_model_file_names_the_fix(tmp_path, monkeypatch):
    monkeypatch.delenv("ADAPTBENCH_LLAMA_SERVER", raising=False)
    monkeypatch.setattr(sys, "prefix", str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BackendError, match="not installed") as caught:
        find_server_binary()
    assert "make llama-server" in caught.value.hint
    with pytest.raises(BackendError, match="no GGUF file"):
        get_backend(f"llamacpp/{tmp_path}/absent.gguf").model_file()


def test_the_server_gets_no_secret_of_ours(tmp_path, monkeypatch):
    from benchmark.backends.llamacpp import _server_env

    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret")
    assert "OPENAI_API_KEY" not in _server_env() and "PATH" in _server_env()


@pytest.mark.slow
def test_the_real_server_answers_with_the_embedded_code_model(task):
    try:
        find_server_binary()
    except BackendError as exc:
        pytest.skip(str(exc))
    from benchmark.backends.embedded import EMBEDDED_MODELS

    if not EMBEDDED_MODELS["qwen2.5-coder-1.5b"].status().startswith(("ready", "parts")):
        pytest.skip("the code model's weights are not installed (make model)")
    backend = get_backend("embedded/qwen2.5-coder-1.5b", {"parallel": "3", "ctx_per_slot": "2048"})
    started = time.perf_counter()
    out = backend.generate_batch([
        make_request(task, n=1, temperature=0.0, max_tokens=24, content="Write a Python function add(a, b)."),
        make_request(task, n=2, temperature=1.0, max_tokens=24, content="Write a Python function add(a, b)."),
    ])
    backend.close()
    assert [len(o) for o in out] == [1, 2] and all(c.error is None for o in out for c in o)
    assert "def" in out[0][0].text or "add" in out[0][0].text
    assert all(0 < c.usage.completion_tokens <= 24 for o in out for c in o)
    assert time.perf_counter() - started < 600
