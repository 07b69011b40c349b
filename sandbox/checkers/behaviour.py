"""Behaviour kept: the adapted script still does its original job (finishes and writes its outputs)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from .base import CheckContext, Checker, checker


class BehaviourArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    files: list[str] = []  # outputs the original script writes, relative to the work dir (glob patterns allowed)


@checker("behaviour")
class BehaviourChecker(Checker):
    Args = BehaviourArgs
    version = 2

    def check(self, ctx: CheckContext):
        missing = [pattern for pattern in self.args.files if not any(ctx.workdir.glob(pattern))]
        if missing:
            return self.fail("behaviour.missing_output",
                             f"the script no longer writes its original output(s) {', '.join(missing)}: keep saving "
                             "them where the original script did (relative to the working directory)", missing=missing)
        return self.ok("the original job still completes" + (f" ({', '.join(self.args.files)})" if self.args.files else ""))
