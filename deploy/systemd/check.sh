#!/usr/bin/env bash
# Checks the systemd unit offline:
# - `systemd-analyze verify` prints nothing (it exits 0 even for unknown directives or bad values, so any output
#   fails the check); ExecStart's path is pointed at a stand-in executable, since verify requires it to exist;
# - `systemd-analyze security --offline=true` stays at or below an exposure of 2.0 (docs/deployment.md has the
#   current score);
# - agent.yaml's secret references name the credentials the unit loads, and TimeoutStopSec is longer than
#   agent.drainTimeout + jobs.killGrace.
# No running systemd is needed. Installs the `systemd` package when systemd-analyze is missing (as root).
set -euo pipefail
cd "$(dirname "$0")"
fail() { echo "systemd/check.sh: $*" >&2; exit 1; }
if ! command -v systemd-analyze >/dev/null 2>&1; then
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 || fail "systemd-analyze is missing: apt-get install systemd"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
unit=outpost-agent.service
work=$(mktemp -d /tmp/outpost-systemd.XXXXXX)
trap 'rm -rf "$work"' EXIT
ln -s /bin/true "$work/outpost"
# Same file name (it is part of the credentials path), only the binary's path changed.
sed "s|/usr/local/bin/outpost|$work/outpost|g" "$unit" >"$work/$unit"

messages=$(systemd-analyze verify "$work/$unit" 2>&1) || fail "systemd-analyze verify failed: $messages"
[ -z "$messages" ] || fail "systemd-analyze verify: ${messages//$work\//}"

report=$(systemd-analyze security --offline=true --threshold=20 "$work/$unit" 2>&1) \
    || fail "exposure above 2.0: $(grep 'Overall exposure' <<<"$report")"
score=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' <<<"$report")
[ -n "$score" ] || fail "systemd-analyze security printed no score"

python3 - "$unit" agent.yaml <<'PY' || fail "agent.yaml and $unit disagree"
import re, sys, yaml
unit_path, config_path = sys.argv[1], sys.argv[2]
unit = open(unit_path).read()
config = yaml.safe_load(open(config_path))
problems = []

def seconds(text):
    total = 0.0
    for value, suffix in re.findall(r"(\d+)\s*(ms|min|s|m|h|d)?", text):
        total += int(value) * {"ms": 0.001, "s": 1, "": 1, "min": 60, "m": 60, "h": 3600, "d": 86400}[suffix]
    return total

credentials = dict(re.findall(r"^LoadCredential=([^:\n]+):(\S+)$", unit, re.M))
for key, reference in (("controlPlane.apiKey", config["controlPlane"]["apiKey"]), ("spool.key", config["spool"]["key"])):
    match = re.fullmatch(r"file:/run/credentials/([^/]+)/([^/]+)", reference)
    if not match:
        problems.append(f"{key} must be file:/run/credentials/{unit_path}/NAME, not {reference}")
    elif match.group(1) != unit_path or match.group(2) not in credentials:
        problems.append(f"{key} ({reference}) names no LoadCredential= of {unit_path}")
stop = re.search(r"^TimeoutStopSec=(.+)$", unit, re.M)
drain = seconds(config["agent"].get("drainTimeout", "5m")) + seconds(config.get("jobs", {}).get("killGrace", "10s"))
if not stop or seconds(stop.group(1)) <= drain:
    problems.append(f"TimeoutStopSec must be longer than drainTimeout + killGrace ({drain:g} s)")
state = re.search(r"^StateDirectory=(\S+)$", unit, re.M)
if not state or config["agent"]["dataDir"] != "/var/lib/" + state.group(1):
    problems.append("agent.dataDir must be /var/lib/<StateDirectory>")
if config.get("jobs", {}).get("bubblewrap") and "RestrictNamespaces=yes" in unit:
    problems.append("jobs.bubblewrap needs namespaces, which RestrictNamespaces=yes forbids")
for problem in problems:
    print(problem, file=sys.stderr)
sys.exit(1 if problems else 0)
PY
echo "systemd/check.sh: $unit verified, exposure $score, agent.yaml consistent"
