"""What an attempt costs, on one axis for API and local models.

A model listed in the price table (`reports/prices.toml`, or the file `$ADAPTBENCH_PRICES` names) costs its tokens at
list prices. Any other model runs on hardware we pay for by the hour: it costs its generation time, the share of the
machine's time attributable to the completion (`Completion.compute_s`, else its latency), at
`Budget.compute_usd_per_hour`. Harness models (oracle, identity, mock) take no time and cost nothing."""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .errors import AdaptbenchError
from .types import Completion, Cost

log = logging.getLogger(__name__)

PRICES_ENV = "ADAPTBENCH_PRICES"
DEFAULT_PRICES = Path(__file__).resolve().parent.parent / "reports" / "prices.toml"


@dataclass(frozen=True)
class Price:
    input_per_mtok: float
    output_per_mtok: float


def load_prices(path: str | Path | None = None) -> dict[str, Price]:
    """Model name -> price (USD per million tokens) from prices.toml ($ADAPTBENCH_PRICES overrides the default)."""
    return dict(_load(str(Path(path or os.environ.get(PRICES_ENV) or DEFAULT_PRICES))))


@lru_cache(maxsize=8)
def _load(path: str) -> tuple[tuple[str, Price], ...]:
    file = Path(path)
    if not file.is_file():
        log.warning("price table %s not found; API models are costed as local compute", file)
        return ()
    try:
        raw = tomllib.loads(file.read_text()).get("models", {})
        return tuple((name, Price(float(p["input_per_mtok"]), float(p["output_per_mtok"]))) for name, p in raw.items())
    except (tomllib.TOMLDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise AdaptbenchError(f"{file}: bad price table ({exc!r})",
                              'write [models."<model name>"] with input_per_mtok = ... and output_per_mtok = ...') from None


def price_for(model: str, prices: dict[str, Price]) -> Price | None:
    """The price of 'openai/gpt-4o-mini' is listed as 'openai/gpt-4o-mini' or 'gpt-4o-mini'."""
    return prices.get(model) or prices.get(model.partition("/")[2])


def attempt_cost(model: str, completion: Completion, prices: dict[str, Price], usd_per_hour: float) -> Cost:
    price = price_for(model, prices)
    if price is not None:
        usage = completion.usage
        return Cost(api_usd=(usage.prompt_tokens * price.input_per_mtok
                             + usage.completion_tokens * price.output_per_mtok) / 1e6)
    seconds = completion.latency_s if completion.compute_s is None else completion.compute_s
    return Cost(compute_s=seconds, compute_usd=seconds * usd_per_hour / 3600)
