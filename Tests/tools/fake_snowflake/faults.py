"""Deterministic fault schedules: `TARGET:WHEN:ACTION`.

TARGET  statement | poll | partition | cancel | any
WHEN    nth=3,7 (the 3rd and 7th request of that target) | every=5 (the 5th, 10th, ...)
ACTION  429 | 500 | 503 | 504 | drop (close without answering, before any work) |
        lost (do the work — run the statement or read the partition — then close without answering)
Requests are counted per target from start-up, the last reset or the last change of schedule; `any` counts
every API request.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

TARGETS = {"statement", "poll", "partition", "cancel", "any"}
ACTIONS = {"429", "500", "503", "504", "drop", "lost"}


@dataclass
class Fault:
    target: str
    nth: frozenset | None
    every: int | None
    action: str
    spec: str

    def hits(self, n: int) -> bool:
        if self.nth is not None:
            return n in self.nth
        return bool(self.every) and n % self.every == 0


def parse_fault(spec: str) -> Fault:
    parts = spec.strip().split(":")
    if len(parts) != 3:
        raise ValueError(f"fault {spec!r}: expected TARGET:WHEN:ACTION")
    target, when, action = (p.strip().lower() for p in parts)
    if target not in TARGETS:
        raise ValueError(f"fault {spec!r}: target must be one of {sorted(TARGETS)}")
    if action not in ACTIONS:
        raise ValueError(f"fault {spec!r}: action must be one of {sorted(ACTIONS)}")
    key, _, value = when.partition("=")
    if key == "nth":
        return Fault(target, frozenset(int(x) for x in value.split(",") if x), None, action, spec)
    if key == "every" and int(value) > 0:
        return Fault(target, None, int(value), action, spec)
    raise ValueError(f"fault {spec!r}: WHEN must be nth=N[,N...] or every=N")


class FaultSchedule:
    def __init__(self, specs: list[str] | None = None):
        self.lock = threading.Lock()
        self.faults = [parse_fault(s) for s in specs or []]
        self.counts: dict[str, int] = {t: 0 for t in TARGETS}
        self.injected: list[dict] = []

    def set(self, specs: list[str]) -> None:
        """Replace the schedule; request counts restart, so nth= counts from now."""
        faults = [parse_fault(s) for s in specs]
        with self.lock:
            self.faults = faults
            self.counts = {t: 0 for t in TARGETS}

    def reset(self, keep_faults: bool = False) -> None:
        with self.lock:
            self.counts = {t: 0 for t in TARGETS}
            self.injected = []
            if not keep_faults:
                self.faults = []

    def next(self, target: str) -> str | None:
        """Count one request of `target`; the action to inject, if any."""
        with self.lock:
            self.counts[target] += 1
            self.counts["any"] += 1
            for f in self.faults:
                n = self.counts[f.target]
                if (f.target == target or f.target == "any") and f.hits(n):
                    self.injected.append({"target": target, "n": n, "action": f.action, "spec": f.spec})
                    return f.action
        return None

    def snapshot(self) -> dict:
        with self.lock:
            return {"faults": [f.spec for f in self.faults], "counts": dict(self.counts),
                    "injected": list(self.injected)}
