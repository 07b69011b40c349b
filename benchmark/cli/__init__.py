"""The `adaptbench` command line. Each subcommand is a small function; one handler maps errors to exit codes."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import AdaptbenchError

log = logging.getLogger("adaptbench")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose, args.quiet)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except AdaptbenchError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        if exc.hint:
            print(f"  hint: {exc.hint}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished samples are saved; run the same command again to resume", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adaptbench", description="Benchmark LLM adaptation of ML code to MLOps tools.")
    p.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    p.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    p.add_argument("--tasks-dir", type=Path, help="task folder (default: the repository's tasks/)")
    sub = p.add_subparsers(metavar="COMMAND")
    from . import commands

    for register in commands.REGISTRARS:
        register(sub)
    return p


def _setup_logging(verbose: bool, quiet: bool) -> None:
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("httpx", "httpx2", "urllib3", "filelock", "alembic", "mlflow", "git"):
        logging.getLogger(noisy).setLevel(max(level, logging.WARNING))
    # torchao (pulled in by transformers) warns at import about CUDA kernels and Triton a CPU run never uses, and
    # torch about how torchao registers its enums
    for noisy in ("torchao", "torch.utils._pytree"):
        logging.getLogger(noisy).setLevel(max(level, logging.ERROR))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
