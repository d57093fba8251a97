#!/usr/bin/env bash
# Renders every overlay with `kubectl kustomize` (offline) and validates the output:
# - `kubernetes-validate --strict` against the Kubernetes API schemas (unknown fields and wrong types fail);
# - the hardening this deployment promises, read from the rendered Deployment: non-root, read-only root file
#   system, no privilege escalation, all capabilities dropped, seccomp RuntimeDefault, resources, probes on the
#   health port, terminationGracePeriodSeconds longer than agent.drainTimeout + jobs.killGrace, the secrets
#   mounted as files where agent.yaml's references point, a NetworkPolicy with both directions, and RBAC on
#   Secrets that is `get` on named Secrets only (never list or watch).
# Needs kubectl and kubernetes-validate (pip; Tests/tools/requirements.txt). Takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")"
fail() { echo "kubernetes/check.sh: $*" >&2; exit 1; }
command -v kubectl >/dev/null 2>&1 || fail "kubectl is missing (it renders the Kustomize overlays offline)"
command -v kubernetes-validate >/dev/null 2>&1 \
    || fail "kubernetes-validate is missing: python3 -m pip install -r Tests/tools/requirements.txt"

out=$(mktemp -d /tmp/outpost-k8s.XXXXXX)
trap 'rm -rf "$out"' EXIT

kubernetes-validate --strict --quiet secrets.example.yaml || fail "secrets.example.yaml is not valid"
for overlay in overlays/*/; do
    name=$(basename "$overlay")
    kubectl kustomize "$overlay" >"$out/$name.yaml" || fail "kubectl kustomize $overlay failed"
    # --quiet prints only warnings and failures; custom resources (Argo) would only warn.
    kubernetes-validate --strict --quiet "$out/$name.yaml" || fail "$name: schema validation failed"
    python3 - "$out/$name.yaml" "$name" <<'PY' || fail "$name: hardening check failed"
import re, sys, yaml

path, overlay = sys.argv[1], sys.argv[2]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
problems = []
def need(condition, message):
    if not condition:
        problems.append(message)

def seconds(text):
    match = re.fullmatch(r"(\d+)(ms|s|m|h|d)?", str(text).strip())
    if not match:
        raise SystemExit(f"{overlay}: cannot read the duration {text!r}")
    value, unit = int(match.group(1)), match.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[unit]

kinds = {(d["kind"], d["metadata"]["name"]) for d in docs}
deployments = [d for d in docs if d["kind"] == "Deployment"]
need(len(deployments) == 1, "exactly one Deployment")
deployment = deployments[0]
pod = deployment["spec"]["template"]["spec"]
config_map = next(d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("outpost-agent-config"))
agent = yaml.safe_load(config_map["data"]["agent.yaml"])

context = pod.get("securityContext", {})
need(context.get("runAsNonRoot") is True, "pod securityContext.runAsNonRoot: true")
need(isinstance(context.get("runAsUser"), int) and context["runAsUser"] > 0, "a numeric non-zero runAsUser")
need(context.get("seccompProfile", {}).get("type") == "RuntimeDefault", "seccompProfile RuntimeDefault")
for container in pod["containers"]:
    c = container.get("securityContext", {})
    label = f"container {container['name']}"
    need(c.get("readOnlyRootFilesystem") is True, f"{label}: readOnlyRootFilesystem: true")
    need(c.get("allowPrivilegeEscalation") is False, f"{label}: allowPrivilegeEscalation: false")
    need(c.get("capabilities", {}).get("drop") == ["ALL"], f"{label}: capabilities.drop [ALL]")
    need(not c.get("capabilities", {}).get("add"), f"{label}: no added capabilities")
    need(c.get("privileged") in (None, False), f"{label}: not privileged")
    resources = container.get("resources", {})
    need("requests" in resources and "memory" in resources.get("limits", {}), f"{label}: requests and a memory limit")
    for probe in ("livenessProbe", "readinessProbe"):
        need(probe in container, f"{label}: {probe}")
    port = agent["observability"]["listen"].rsplit(":", 1)[1]
    ports = {str(p["containerPort"]) for p in container.get("ports", [])}
    need(port in ports, f"{label}: the health port {port} of observability.listen is a containerPort")
    mounts = {m["mountPath"]: m for m in container.get("volumeMounts", [])}
    need("/tmp" in mounts, f"{label}: a writable /tmp volume")
    need(agent["agent"]["dataDir"] in mounts, f"{label}: a volume at agent.dataDir {agent['agent']['dataDir']}")
    for key, reference in (("controlPlane.apiKey", agent["controlPlane"]["apiKey"]), ("spool.key", agent["spool"]["key"])):
        need(reference.startswith("file:"), f"{key} is a file: reference")
        directory = reference[len("file:"):].rsplit("/", 1)[0]
        mount = mounts.get(directory)
        need(mount is not None and mount.get("readOnly") is True, f"{label}: {key}'s directory {directory} is a read-only mount")

volumes = {v["name"]: v for v in pod.get("volumes", [])}
need(volumes.get("tmp", {}).get("emptyDir") is not None, "/tmp is an emptyDir")
need(all(not v.get("hostPath") for v in volumes.values()), "no hostPath volumes")
need(pod.get("hostNetwork") in (None, False) and pod.get("hostPID") in (None, False), "no host namespaces")

drain = seconds(agent["agent"].get("drainTimeout", "5m"))
grace = seconds(agent.get("jobs", {}).get("killGrace", "10s"))
need(pod.get("terminationGracePeriodSeconds", 30) > drain + grace,
     f"terminationGracePeriodSeconds {pod.get('terminationGracePeriodSeconds', 30)} > drainTimeout + killGrace ({drain + grace:g})")

policies = [d for d in docs if d["kind"] == "NetworkPolicy"]
need(len(policies) == 1, "one NetworkPolicy")
if policies:
    spec = policies[0]["spec"]
    need(set(spec.get("policyTypes", [])) == {"Ingress", "Egress"}, "the NetworkPolicy restricts Ingress and Egress")
    ports = {p.get("port") for rule in spec.get("egress", []) for p in rule.get("ports", [])}
    need({53, 443} <= ports, "egress allows DNS (53) and HTTPS (443)")
    need(all(rule.get("ports") for rule in spec.get("egress", [])), "every egress rule names its ports")

sa = pod.get("serviceAccountName")
need(("ServiceAccount", sa) in kinds, f"the ServiceAccount {sa} is part of the overlay")
roles = [d for d in docs if d["kind"] in ("Role", "ClusterRole")]
# No rule anywhere may list or watch Secrets: that would hand the agent every Secret of a namespace.
for role in roles:
    for rule in role["rules"]:
        if "secrets" in rule.get("resources", []) or "*" in rule.get("resources", []):
            need(not {"list", "watch", "*"} & set(rule["verbs"]), f"{role['metadata']['name']}: no list/watch on secrets")
# The kubernetes-secrets component: `get` on named Secrets only, bound to the agent's ServiceAccount.
secret_roles = [d for d in roles if d["metadata"]["name"] == "outpost-agent-secrets"]
for role in secret_roles:
    need(role["kind"] == "Role", "outpost-agent-secrets is a namespaced Role, not a ClusterRole")
    for rule in role["rules"]:
        need(rule.get("apiGroups") == [""] and rule.get("resources") == ["secrets"], "outpost-agent-secrets: secrets only")
        need(rule.get("verbs") == ["get"], "outpost-agent-secrets: the get verb only")
        need(bool(rule.get("resourceNames")), "outpost-agent-secrets: Secrets named in resourceNames")
if secret_roles:
    need(pod.get("automountServiceAccountToken") is True, f"{overlay}: the service account token for k8s: secrets")
    need(any(d["roleRef"]["name"] == "outpost-agent-secrets" and any(s["name"] == sa for s in d["subjects"])
             for d in docs if d["kind"] == "RoleBinding"),
         "a RoleBinding of outpost-agent-secrets to the agent's ServiceAccount")
roles = [d for d in roles if d not in secret_roles]
if overlay == "agent-argo":
    need(pod.get("automountServiceAccountToken") is True, "agent-argo mounts the service account token")
    need(not any(d["kind"] == "ClusterRole" for d in roles), "agent-argo grants namespaced Roles only")
    rules = [r for d in roles if d["metadata"]["name"] == "outpost-agent-argo" for r in d["rules"]]
    def verbs(group, resource):
        return {v for r in rules if group in r["apiGroups"] and resource in r["resources"] for v in r["verbs"]}
    need(verbs("argoproj.io", "workflows") == {"create", "get", "list", "watch", "delete"}, "workflow verbs")
    need(verbs("", "pods") == {"get", "list"} and verbs("", "pods/log") == {"get"}, "pod and pod log verbs")
    need(any(s["name"] == sa for d in docs if d["kind"] == "RoleBinding" for s in d["subjects"]),
         "a RoleBinding for the agent's ServiceAccount")
else:
    if not secret_roles:
        need(pod.get("automountServiceAccountToken") is False, f"{overlay}: no service account token in the pod")
    need(not roles, f"{overlay}: no RBAC beyond reading named Secrets")

if problems:
    for problem in problems:
        print(f"{overlay}: missing: {problem}", file=sys.stderr)
    sys.exit(1)
print(f"kubernetes/check.sh: {overlay}: {len(docs)} resources valid and hardened")
PY
done
