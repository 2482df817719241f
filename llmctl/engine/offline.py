"""Run a stack program offline, under Pulumi's official mocks, and collect what it registers.

The real program runs in the real Pulumi SDK; `pulumi.runtime.set_mocks` replaces only the engine
on the other end of the wire: every resource registration reaches the recorder's `new_resource`, which
answers with a deterministic fake id and the inputs echoed back plus the few outputs the programs
read (an EKS endpoint and CA, role ARNs, Auto Scaling group names, a Gateway's address), and every
invoke reaches its `call` (availability zones, an adopted EKS cluster, a hosted zone). No
Pulumi CLI, no provider plugin, no cloud account.

Each run happens on its own thread, with a fresh event loop and fresh Pulumi runtime settings
(Pulumi keeps them in context variables, and a new thread starts with an empty context), so runs
repeat in one process without leaking state into each other or into the caller.
"""

from __future__ import annotations

import base64
import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from llmctl.plan import Resource

ACCOUNT = "123456789012"
SECRET = "[secret]"
UNKNOWN = "[unknown]"
MOCK_CA = base64.b64encode(b"llmctl offline mock CA").decode()


@dataclass
class OfflineRun:
    """What a program registered (in registration order) and what its stack exports."""

    resources: list[Resource] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)


def collect_resources(
    program: Callable[[], None], stack: str, project: str = "llmctl"
) -> list[Resource]:
    """Run `program` under Pulumi's mocks as a preview; every resource it registers, in order."""
    return run_offline(program, stack, project).resources


def run_offline(program: Callable[[], None], stack: str, project: str = "llmctl") -> OfflineRun:
    """Run `program` under Pulumi's mocks; its resources and its resolved stack outputs."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmctl-offline") as pool:
        return pool.submit(_run, program, stack, project).result()


def _run(program: Callable[[], None], stack: str, project: str) -> OfflineRun:
    """One run, on a thread of its own: fresh loop, fresh settings, mocks, program, cleanup."""
    import asyncio

    from pulumi import Output
    from pulumi.runtime import mocks, settings
    from pulumi.runtime import stack as runtime_stack

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    recorder = _new_recorder()
    order: list[tuple[str, str]] = []

    def record_order(args: Any) -> None:
        # A stack transformation runs synchronously as each resource is constructed, so this
        # is program order; the mock monitor sees registrations in whatever order inputs resolve.
        order.append((args.type_, args.name))

    def main() -> None:
        runtime_stack.register_stack_transformation(record_order)
        program()

    try:
        settings.reset_options(project=project, stack=stack, preview=True)
        mocks.set_mocks(recorder, project=project, stack=stack, preview=True)
        loop.run_until_complete(runtime_stack.run_pulumi_func(main))
        root = settings.get_root_resource()
        exported = getattr(root, "outputs", {}) or {}
        outputs = {}
        for name, value in exported.items():
            out = Output.from_input(value)
            resolved = loop.run_until_complete(out.future())
            secret = loop.run_until_complete(out.is_secret())
            outputs[name] = SECRET if secret else _clean(resolved)
    finally:
        for task in asyncio.all_tasks(loop):
            task.cancel()
        loop.run_until_complete(asyncio.sleep(0))
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(None)
    return OfflineRun(_ordered(recorder.registered, order), outputs)


def _ordered(
    registered: dict[tuple[str, str], dict[str, Any]], order: list[tuple[str, str]]
) -> list[Resource]:
    """Resources in construction order; anything registered but not seen constructed goes last."""
    keys = [k for k in dict.fromkeys(order) if k in registered]
    keys += [k for k in registered if k not in keys]
    out = []
    for type_, name in keys:
        inputs = _clean(registered[(type_, name)])
        out.append(Resource(type_, name, inputs, summary(type_, inputs)))
    return out


def _clean(value: Any) -> Any:
    """Plain JSON-able data: secrets masked, unknowns marked, integral floats back to ints."""
    from pulumi.output import Unknown
    from pulumi.runtime import rpc

    if rpc.is_rpc_secret(value):
        return SECRET
    if isinstance(value, Unknown):
        return UNKNOWN
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)  # the wire carries every number as a double
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def _new_recorder() -> Any:
    """Pulumi Mocks that record every registration and answer invokes with plausible data."""
    from pulumi.runtime.mocks import Mocks  # here, so importing this module loads no Pulumi

    class Recorder(Mocks):
        def __init__(self) -> None:
            self.registered: dict[tuple[str, str], dict[str, Any]] = {}
            self.regions: dict[str, str] = {}  # aws provider id -> its region
            self._lock = threading.Lock()  # the mock monitor is called from executor threads

        def new_resource(self, args: Any) -> tuple[str, dict[str, Any]]:
            """Record the registration; a fake id, and the inputs plus known outputs."""
            inputs = dict(args.inputs)
            resource_id = f"{args.name}-id"
            provider_id = (args.provider or "").rpartition("::")[2]
            with self._lock:
                region = self.regions.get(provider_id, "us-east-1")
                self.registered[(args.typ, args.name)] = inputs
                if args.typ == "pulumi:providers:aws":
                    self.regions[resource_id] = inputs.get("region", "us-east-1")
            return resource_id, {**inputs, **_outputs(args.typ, args.name, inputs, region)}

        def call(self, args: Any) -> tuple[dict[str, Any], list[tuple[str, str]]]:
            """Answer the invokes the stack programs make."""
            return _invoke(args.token, dict(args.args)), []

    return Recorder()


def _outputs(type_: str, logical: str, inputs: dict[str, Any], region: str) -> dict[str, Any]:
    """Outputs a real provider would add that the programs read."""
    given = inputs.get("name")
    name: str = given if isinstance(given, str) else logical
    if type_ == "aws:eks/cluster:Cluster":
        return {
            "name": name,
            "arn": f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{name}",
            "endpoint": f"https://{_digest(name)}.gr7.{region}.eks.amazonaws.com",
            "certificateAuthority": {"data": MOCK_CA},
        }
    if type_ == "aws:iam/role:Role":
        return {"name": name, "arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"}
    if type_ == "aws:eks/nodeGroup:NodeGroup":
        asg = f"eks-{logical}-{_digest(logical)}"
        return {"resources": [{"autoscalingGroups": [{"name": asg}]}]}
    if type_ == "aws:ecr/repository:Repository":
        return {"repositoryUrl": f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{name}"}
    if type_.startswith("kubernetes:gateway.networking.k8s.io/") and type_.endswith(":Gateway"):
        host = f"{_digest(logical)}.elb.amazonaws.com"
        return {"status": {"addresses": [{"type": "Hostname", "value": host}]}}
    if type_.startswith("aws:"):
        return {"arn": f"arn:aws:mock:{region}:{ACCOUNT}:{type_.rsplit(':', 1)[1]}/{name}"}
    return {}


def _invoke(token: str, args: dict[str, Any]) -> dict[str, Any]:
    """Results of the data sources the programs read."""
    if token == "aws:index/getAvailabilityZones:getAvailabilityZones":
        region = args.get("region") or "us-east-1"
        return {
            "id": region,
            "names": [f"{region}{z}" for z in "abc"],
            "zoneIds": [f"use1-az{i}" for i in (1, 2, 4)],
        }
    if token == "aws:eks/getCluster:getCluster":
        name = args["name"]
        region = args.get("region") or "us-east-1"
        return {
            "id": name,
            "name": name,
            "arn": f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{name}",
            "endpoint": f"https://{_digest(name)}.gr7.{region}.eks.amazonaws.com",
            "certificateAuthorities": [{"data": MOCK_CA}],
            "version": "1.33",
            "status": "ACTIVE",
            "vpcConfig": {
                "vpcId": f"vpc-{_digest(name)}",
                "subnetIds": [f"subnet-{_digest(name + str(i))}" for i in range(3)],
                "securityGroupIds": [],
                "clusterSecurityGroupId": f"sg-{_digest(name)}",
                "endpointPrivateAccess": True,
                "endpointPublicAccess": True,
                "publicAccessCidrs": ["0.0.0.0/0"],
            },
        }
    if token == "aws:route53/getZone:getZone":
        zone = str(args.get("name", "")).rstrip(".")
        zone_id = "Z" + _digest(zone).upper()
        return {"id": zone_id, "zoneId": zone_id, "name": zone, "privateZone": False}
    return {}


def _digest(text: str) -> str:
    """A short stable hex digest, for fake ids."""
    return hashlib.sha256(text.encode()).hexdigest()[:10]


def summary(type_: str, inputs: dict[str, Any]) -> str:
    """One human line for the resources a plan reader cares about; "" for the rest."""
    if type_ == "aws:eks/nodeGroup:NodeGroup":
        scaling = inputs.get("scalingConfig") or {}
        capacity = "spot" if inputs.get("capacityType") == "SPOT" else "on-demand"
        types = ",".join(inputs.get("instanceTypes") or [])
        return f"{types} x {scaling.get('minSize')}..{scaling.get('maxSize')}, {capacity}"
    if type_ == "kubernetes:apps/v1:Deployment":
        spec = inputs.get("spec") or {}
        containers = ((spec.get("template") or {}).get("spec") or {}).get("containers") or []
        gpus = sum(
            int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
            for c in containers
        )
        replicas = spec.get("replicas", 1)
        noun = "replica" if replicas == 1 else "replicas"
        line = f"{replicas} {noun} x {gpus} GPU" if gpus else f"{replicas} {noun}"
        images = ", ".join(str(c.get("image")) for c in containers if c.get("image"))
        return f"{line}, {images}" if images else line
    if type_ == "kubernetes:leaderworkerset.x-k8s.io/v1:LeaderWorkerSet":
        spec = inputs.get("spec") or {}
        template = spec.get("leaderWorkerTemplate") or {}
        size = template.get("size", 1)
        leader = ((template.get("leaderTemplate") or {}).get("spec") or {}).get("containers") or []
        per_node = sum(
            int(((c.get("resources") or {}).get("limits") or {}).get("nvidia.com/gpu", 0))
            for c in leader
        )
        groups = spec.get("replicas", 1)
        noun = "replica" if groups == 1 else "replicas"
        line = f"{groups} {noun} x {size * per_node} GPU ({size} nodes x {per_node} GPU)"
        images = ", ".join(str(c.get("image")) for c in leader if c.get("image"))
        return f"{line}, {images}" if images else line
    if type_ == "kubernetes:helm.sh/v3:Release":
        return f"{inputs.get('chart')} {inputs.get('version')}"
    if type_ == "aws:eks/cluster:Cluster":
        return f"Kubernetes {inputs.get('version')}"
    if type_ == "aws:ecr/repository:Repository":
        return str(inputs.get("name", ""))
    if type_ == "aws:route53/record:Record":
        return _record_summary(inputs)
    if type_ == "aws:route53/healthCheck:HealthCheck":
        if inputs.get("type") == "CALCULATED":
            return f"any of {len(inputs.get('childHealthchecks') or [])} healthy"
        return f"{inputs.get('type')} {inputs.get('fqdn')}{inputs.get('resourcePath', '')}"
    if type_ == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler":
        spec = inputs.get("spec") or {}
        return f"{spec.get('minReplicas', 1)}..{spec.get('maxReplicas')} replicas"
    return ""


def _record_summary(inputs: dict[str, Any]) -> str:
    """`CNAME llm.example.com -> primary.llm.example.com (PRIMARY)`."""
    line = f"{inputs.get('type')} {inputs.get('name')} -> {', '.join(inputs.get('records') or [])}"
    weighted = inputs.get("weightedRoutingPolicies") or []
    failover = inputs.get("failoverRoutingPolicies") or []
    if weighted:
        line += f" (weight {weighted[0].get('weight')})"
    elif failover:
        line += f" ({failover[0].get('type')})"
    return line
