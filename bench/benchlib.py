"""What the bench scripts' Python parts share (imported with PYTHONPATH=bench): the admin and agent API over
HTTP, the agent's log lines and the runs' timestamps."""

import json
import sys
import time
import urllib.request
from datetime import datetime


class API:
    """Calls to one control plane with one key."""

    def __init__(self, server, key, timeout=90):
        self.server, self.key, self.timeout = server, key, timeout

    def call(self, method, path, body=None, key=None, agent=None):
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.server + path, data=data, method=method)
        request.add_header("Authorization", "Bearer " + (key or self.key))
        if agent:
            # Calls about a run name the agent that holds its lease.
            request.add_header("X-Outpost-Agent", agent)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            text = response.read()
            return json.loads(text) if text else None

    def finished(self, run_id, limit=1800, done=("succeeded", "partial", "failed", "cancelled")):
        """The run once it ended (polled every 0.2 s); exits the benchmark after `limit` seconds."""
        deadline = time.monotonic() + limit
        while True:
            state = self.call("GET", f"/v1/admin/runs/{run_id}")
            if state["status"] in done:
                return state
            if time.monotonic() > deadline:
                sys.exit(f"bench: run {run_id} did not finish within {limit} s (status {state['status']})")
            time.sleep(0.2)


def instant(text):
    """An RFC 3339 timestamp as seconds since 1970."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def agent_events(log_path, run_id):
    """The first of each message the agent's text log wrote for the run: message -> (time, {key: value})."""
    events = {}
    for line in open(log_path):
        parts = line.split()
        if len(parts) >= 3 and f"run.id={run_id}" in parts[3:] and parts[2] not in events:
            events[parts[2]] = (instant(parts[0]), dict(p.split("=", 1) for p in parts[3:] if "=" in p))
    return events
