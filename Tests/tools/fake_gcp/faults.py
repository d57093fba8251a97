"""Fault injection for the fake Google endpoints (`--fault SPEC`, `POST /_fake/faults`).

SPEC is ACTION[xN][@TARGET]:
  ACTION  500 | 503 | 429 | drop (close the connection without answering, before any work)
  N       how many of the next matching requests it hits (default 1); each hit uses one up
  TARGET  token | sts | iam | metadata | secrets | storage | upload | any (default any); `upload` is a
          resumable upload's chunk (a PUT with data to a session URI), which `storage` and `any` hit too
Faults are consumed in order: a request takes the first fault whose target matches and has hits left. Control
requests (/_fake/...) are never faulted. Examples: `503x2@secrets`, `drop@token`, `429`.
"""

from __future__ import annotations

import re
import threading

TARGETS = ("token", "sts", "iam", "metadata", "secrets", "storage", "upload", "any")
_SPEC = re.compile(r"^(500|503|429|drop)(?:x(\d+))?(?:@([a-z]+))?$")


def parse(spec: str) -> dict:
    m = _SPEC.match(spec.strip().lower())
    if not m or (m.group(3) or "any") not in TARGETS or (m.group(2) is not None and int(m.group(2)) < 1):
        raise ValueError(f"fault {spec!r}: expected ACTION[xN][@TARGET], ACTION one of 500, 503, 429, drop, "
                         f"N >= 1, TARGET one of {', '.join(TARGETS)}")
    return {"spec": spec.strip(), "action": m.group(1), "left": int(m.group(2) or 1),
            "target": m.group(3) or "any"}


class Faults:
    def __init__(self, specs=None):
        self.lock = threading.Lock()
        self.faults = [parse(s) for s in specs or []]
        self.fired: list[dict] = []

    def set(self, specs) -> None:
        faults = [parse(s) for s in specs]
        with self.lock:
            self.faults = faults

    def add(self, specs) -> None:
        faults = [parse(s) for s in specs]
        with self.lock:
            self.faults.extend(faults)

    def clear(self) -> None:
        with self.lock:
            self.faults = []
            self.fired = []

    def take(self, target: str, what: str, also: str | None = None):
        """The action to inject into this request of `target` (or `also`) ('500', '503', '429', 'drop') or None."""
        with self.lock:
            for f in self.faults:
                if f["left"] > 0 and f["target"] in (target, also, "any"):
                    f["left"] -= 1
                    self.fired.append({"spec": f["spec"], "target": target, "request": what})
                    self.faults = [g for g in self.faults if g["left"] > 0]
                    return f["action"]
        return None

    def snapshot(self) -> dict:
        with self.lock:
            return {"pending": [{"spec": f["spec"], "left": f["left"]} for f in self.faults],
                    "fired": list(self.fired)}
