"""Fault schedules for the fake Azure server (`--fault SPEC`, `POST /_fake/faults {"faults": [SPEC, ...]}`).

SPEC is `KIND[xN][@SERVICE][;retry-after=S]`:
  KIND     500 | 503 | 429 (an error answer in the service's own shape: Blob XML `InternalError` / `ServerBusy`,
           Key Vault JSON `InternalServerError` / `ServiceUnavailable` / `Throttled`, Entra and IMDS JSON), or
           `drop` (the connection is closed without any answer, after the request was read)
  N        how many of the next matching requests fail (default 1)
  SERVICE  blob | vault | entra | imds | identity (App Service) | any (default any)
  S        Retry-After seconds on 429/503 (default 1)
Faults are consumed in order; control requests (/_fake/...) never count. Setting faults replaces the old ones.
"""

from __future__ import annotations

import re
import threading

SERVICES = ("blob", "vault", "entra", "imds", "identity", "any")
_SPEC = re.compile(r"^(500|503|429|drop)(?:x(\d+))?(?:@([a-z]+))?(?:;retry-after=(\d+))?$")


def parse(spec: str) -> dict:
    m = _SPEC.match(spec.strip().lower())
    if not m or (m.group(3) and m.group(3) not in SERVICES):
        raise ValueError(f"fault {spec!r}: expected KIND[xN][@SERVICE][;retry-after=S] with KIND 500|503|429|drop "
                         f"and SERVICE one of {', '.join(SERVICES)}")
    n = int(m.group(2) or 1)
    if n < 1:
        raise ValueError(f"fault {spec!r}: N starts at 1")
    return {"spec": spec, "kind": m.group(1), "left": n, "service": m.group(3) or "any",
            "retry_after": int(m.group(4) or 1)}


class Faults:
    def __init__(self, specs=None):
        self.lock = threading.Lock()
        self.faults = [parse(s) for s in specs or []]
        self.fired: list[dict] = []

    def set(self, specs) -> None:
        faults = [parse(s) for s in specs]
        with self.lock:
            self.faults = faults

    def take(self, service: str):
        """The fault to apply to the next request of `service` (consumed), or None."""
        with self.lock:
            for f in self.faults:
                if f["left"] > 0 and f["service"] in ("any", service):
                    f["left"] -= 1
                    self.fired.append({"spec": f["spec"], "service": service})
                    return dict(f)
        return None

    def snapshot(self) -> dict:
        with self.lock:
            return {"pending": [{"spec": f["spec"], "left": f["left"]} for f in self.faults if f["left"] > 0],
                    "fired": list(self.fired)}
