#!/usr/bin/env bash
# Checks the alerting rules: `promtool check rules`, the unit tests in outpost-alerts.test.yaml
# (`promtool test rules`), and that every outpost_agent_* metric the rules use is one the agent registers in
# Sources/Agent/Observability/AgentMetrics.swift (so no alert watches a metric that does not exist).
set -euo pipefail
cd "$(dirname "$0")"
fail() { echo "prometheus/check.sh: $*" >&2; exit 1; }
command -v promtool >/dev/null 2>&1 || fail "promtool is missing: apt-get install prometheus"
promtool check rules outpost-alerts.yaml >/dev/null || fail "promtool check rules failed"
promtool test rules outpost-alerts.test.yaml >/dev/null || { promtool test rules outpost-alerts.test.yaml; fail "rule tests failed"; }
python3 - outpost-alerts.yaml ../../Sources/Agent/Observability/AgentMetrics.swift <<'PY' || fail "unknown metrics"
import re, sys, yaml
rules, source = sys.argv[1], open(sys.argv[2]).read()
# descriptor("jobs", "total", …) → outpost_agent_jobs_total; histograms also expose _bucket, _sum, _count.
registered = set()
for metric, unit in re.findall(r'descriptor\(\s*"(\w+)",\s*"(\w+)"', source):
    name = f"outpost_agent_{metric}_{unit}"
    registered |= {name, name + "_bucket", name + "_sum", name + "_count"}
if len(registered) < 8:
    raise SystemExit(f"found only {len(registered)} metric names in AgentMetrics.swift: the parsing is wrong")
used = set()
for group in yaml.safe_load(open(rules))["groups"]:
    for rule in group["rules"]:
        used |= set(re.findall(r"\boutpost_agent_\w+", rule["expr"]))
unknown = sorted(used - registered)
if unknown:
    raise SystemExit(f"the rules use metrics the agent does not export: {', '.join(unknown)}")
print(f"prometheus/check.sh: {len(used)} agent metrics used, all exported")
PY
