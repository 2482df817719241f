"""Security scan: checkov over every example's rendered Kubernetes objects and over the IAM roles
and policies the AWS stacks create (written as a CloudFormation template, which checkov reads).

Suppressions and their reasons: security/checkov.yaml. Exit status: checkov's (0 = no failed
check). Run: .venv-scan/bin/checkov must exist (scripts/test installs it), then
    .venv/bin/python scripts/security_scan.py [--checkov PATH]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
IAM = {
    "aws:iam/role:Role",
    "aws:iam/rolePolicy:RolePolicy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
}


def write_kubernetes(example: Path, out: Path) -> int:
    """Render one example's Kubernetes objects (not the image context) into `out`."""
    from llmctl.compile import compile_file
    from llmctl.release import make_release
    from llmctl.render.writer import render_all

    files = render_all(make_release(compile_file(example).deployment))
    for rel, text in files.items():
        target = out / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return len(files)


def iam_template(example: Path) -> dict | None:
    """The IAM roles of the example's AWS stacks (run under Pulumi's mocks) as CloudFormation."""
    from llmctl.compile import compile_file
    from llmctl.engine.offline import collect_resources
    from llmctl.engine.runner import stack_defs
    from llmctl.release import make_release

    d = compile_file(example).deployment
    if not any(c.provider == "aws" for c in d.clusters):
        return None
    defs = stack_defs(make_release(d), {}, require=False)
    found = [r for s in defs if s.kind == "aws-cluster"
             for r in collect_resources(s.program, s.name, "llmctl") if r.type in IAM]
    roles = {r.name: r for r in found if r.type == "aws:iam/role:Role"}

    def role_of(ref: str) -> str:
        return ref[:-3] if ref.endswith("-id") and ref[:-3] in roles else ref

    resources: dict[str, dict] = {}
    for name, role in roles.items():
        props = {"AssumeRolePolicyDocument": json.loads(role.inputs["assumeRolePolicy"]),
                 "Policies": [], "ManagedPolicyArns": []}
        resources[_logical(name)] = {"Type": "AWS::IAM::Role", "Properties": props}
    for r in found:
        if r.type == "aws:iam/rolePolicy:RolePolicy":
            props = resources[_logical(role_of(r.inputs["role"]))]["Properties"]
            props["Policies"].append({"PolicyName": r.name, "PolicyDocument": json.loads(r.inputs["policy"])})
        elif r.type == "aws:iam/rolePolicyAttachment:RolePolicyAttachment":
            props = resources[_logical(role_of(r.inputs["role"]))]["Properties"]
            props["ManagedPolicyArns"].append(r.inputs["policyArn"])
    return {"AWSTemplateFormatVersion": "2010-09-09", "Resources": resources}


def _logical(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("_", "-").split("-"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkov", default=str(ROOT / ".venv-scan" / "bin" / "checkov"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmctl-scan-") as tmp:
        root = Path(tmp)
        for example in sorted(ROOT.glob("examples/*/llm.yaml")):
            n = write_kubernetes(example, root / "kubernetes" / example.parent.name)
            template = iam_template(example)
            if template is not None:
                path = root / "iam" / f"{example.parent.name}.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(template, indent=2))
            roles = len(template["Resources"]) if template else 0
            print(f"scan: {example.parent.name}: {n} Kubernetes objects, {roles} IAM roles")
        cmd = [args.checkov, "--config-file", str(ROOT / "security" / "checkov.yaml"),
               "-d", str(root), "--framework", "kubernetes", "cloudformation"]
        return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
