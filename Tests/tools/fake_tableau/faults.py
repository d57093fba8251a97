"""Deterministic fault schedules for the fake Tableau server (`--fault SPEC`, `POST /_fake/faults`).

SPEC is one of
  expire-session-after=N        a session's token stops working after N authenticated requests (REST and GraphQL)
                                on it: the next request gets 401 and the session is gone (sign in again). Applies
                                to every session started while the fault is set; fires once per session.
  429@N[xK][;retry-after=S]     the Nth GraphQL request (and the K-1 after it) answers HTTP 429 with Retry-After: S
  503@N[xK][;retry-after=S]     the same with HTTP 503 (default S = 1)
  partial-error@N[xK]           the Nth GraphQL request runs, and an error is added beside its data
  node-limit@N[xK]              the Nth GraphQL request answers as if it exceeded the node limit
GraphQL requests are counted from 1 since start-up, the last `DELETE /_fake/faults`, the last `POST /_fake/faults`
or `POST /_fake/stats/reset`; a request refused by a fault still counts.
"""

from __future__ import annotations

import re
import threading

_AT = re.compile(r"^(429|503|partial-error|node-limit)@(\d+)(?:x(\d+))?(?:;retry-after=(\d+))?$")
_EXPIRE = re.compile(r"^expire-session-after=(\d+)$")


def parse(spec: str) -> dict:
    s = spec.strip().lower()
    m = _EXPIRE.match(s)
    if m:
        return {"spec": spec, "action": "expire-session", "after": int(m.group(1))}
    m = _AT.match(s)
    if not m:
        raise ValueError(f"fault {spec!r}: expected expire-session-after=N, 429@N[xK][;retry-after=S], "
                         "503@N[xK][;retry-after=S], partial-error@N[xK] or node-limit@N[xK]")
    n, k = int(m.group(2)), int(m.group(3) or 1)
    if n < 1 or k < 1:
        raise ValueError(f"fault {spec!r}: N and K start at 1")
    return {"spec": spec, "action": m.group(1), "from": n, "to": n + k - 1, "retry_after": int(m.group(4) or 1)}


class Faults:
    def __init__(self, specs=None):
        self.lock = threading.Lock()
        self.faults = [parse(s) for s in specs or []]
        self.graphql_count = 0
        self.fired: list[dict] = []

    def set(self, specs) -> None:
        faults = [parse(s) for s in specs]
        with self.lock:
            self.faults = faults
            self.graphql_count = 0

    def clear(self) -> None:
        self.set([])

    def reset_counts(self) -> None:
        with self.lock:
            self.graphql_count = 0
            self.fired = []

    def expire_after(self):
        with self.lock:
            for f in self.faults:
                if f["action"] == "expire-session":
                    return f["after"]
        return None

    def next_graphql(self):
        """Count one GraphQL request; the fault to apply to it (dict) or None."""
        with self.lock:
            self.graphql_count += 1
            n = self.graphql_count
            for f in self.faults:
                if f["action"] != "expire-session" and f["from"] <= n <= f["to"]:
                    self.fired.append({"spec": f["spec"], "graphqlRequest": n})
                    return f
        return None

    def record(self, what: str) -> None:
        with self.lock:
            self.fired.append({"spec": what})

    def snapshot(self) -> dict:
        with self.lock:
            return {"faults": [f["spec"] for f in self.faults], "graphqlRequests": self.graphql_count,
                    "fired": list(self.fired)}
