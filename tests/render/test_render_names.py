"""Names (issue 14, item 5): every rendered name, namespace and label is valid for the API server,
and object names and file paths derive from a model's `name`, never from its `served_name` (an
API model id, which may hold '/', '.' and capitals, as vLLM's own default does)."""

from __future__ import annotations

import re

import pytest
from render_helpers import SPECS, cluster_objects

from llmctl.compile import compile_file
from llmctl.errors import SpecInvalid
from llmctl.release import make_release
from tests.spec.test_loader import BASE

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
# Kinds whose names the API server checks as DNS-1035 / DNS-1123 labels, not subdomains.
LABEL_NAMED = {"Namespace", "Service"}


def _label_key_ok(key: str) -> bool:
    prefix, _, name = key.rpartition("/")
    if prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN.match(prefix)):
        return False
    return len(name) <= 63 and bool(LABEL_NAME.match(name))


def _problems(obj: dict) -> list[str]:
    meta, kind = obj["metadata"], obj["kind"]
    name = meta["name"]
    out = []
    pattern = DNS_LABEL if kind in LABEL_NAMED else DNS_SUBDOMAIN
    if len(name) > (63 if kind in LABEL_NAMED else 253) or not pattern.match(name):
        out.append(f"{kind} name {name!r}")
    if "namespace" in meta and not (
        len(meta["namespace"]) <= 63 and DNS_LABEL.match(meta["namespace"])
    ):
        out.append(f"{kind} {name} namespace {meta['namespace']!r}")
    labels = dict(meta.get("labels") or {})
    template = obj.get("spec", {}).get("template", {}).get("metadata", {})
    labels |= template.get("labels") or {}
    for key, value in labels.items():
        if not _label_key_ok(key):
            out.append(f"{kind} {name} label key {key!r}")
        if len(value) > 63 or not LABEL_VALUE.match(value):
            out.append(f"{kind} {name} label {key}={value!r}")
    return out


def _render_files(deployment) -> dict[str, str]:
    from llmctl.render.writer import render_all

    return render_all(make_release(deployment, "registry.example.com/llmctl/vllm"))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_every_rendered_name_namespace_and_label_is_valid(name):
    problems = [p for objs in cluster_objects(name).values() for o in objs for p in _problems(o)]
    assert problems == []


SERVED = "meta-llama/Llama-3.1-8B-Instruct"


def _spec(tmp_path, text: str):
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return compile_file(path).deployment


def test_a_hugging_face_id_as_served_name_renders_valid_objects(tmp_path):
    d = _spec(tmp_path, BASE.replace("  - name: m\n", f"  - name: m\n    served_name: {SERVED}\n"))
    assert d.models[0].served_name == SERVED
    from llmctl.render.cluster import render_cluster_objects

    objects = render_cluster_objects(
        d, "c", make_release(d, "registry.example.com/llmctl/vllm").images
    )
    assert [p for o in objects for p in _problems(o)] == []
    [route] = [o for o in objects if o["kind"] == "HTTPRoute" and "route-" in o["metadata"]["name"]]
    assert route["metadata"]["name"] == "t-route-m"  # from the model's name
    header = route["spec"]["rules"][0]["matches"][0]["headers"][0]
    assert header["value"] == SERVED  # clients still send the served name
    for path in _render_files(d):
        cluster, _, file = path.partition("/")
        assert cluster == "c" and "/" not in file and ".." not in file, path


@pytest.mark.parametrize(
    "served",
    ["x/../other", "../other", "/abs", "org/", "a//b", "has space", "a\\b", "'q'", "", "x" * 129],
)
def test_a_served_name_that_is_not_an_api_model_id_is_a_located_error(tmp_path, served):
    text = BASE.replace("  - name: m\n", f"  - name: m\n    served_name: {served!r}\n")
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    with pytest.raises(SpecInvalid) as info:
        compile_file(path)
    [d] = info.value.diagnostics
    assert d.path == "models[0].served_name" and d.line == 12


@pytest.mark.parametrize("served", ["llama3:8b", "Qwen/Qwen2.5-7B-Instruct", "org/sub/model_v1.5"])
def test_api_model_ids_are_accepted(tmp_path, served):
    d = _spec(tmp_path, BASE.replace("  - name: m\n", f"  - name: m\n    served_name: {served}\n"))
    assert d.gateway.routes[0].name == served and d.gateway.routes[0].key == "m"


def test_two_models_served_under_one_name_is_an_error(tmp_path):
    two = BASE + (
        "  - name: n\n    served_name: m\n"
        "    source: hf://meta-llama/Llama-3.1-8B-Instruct\n"
        "    revision: 0e9e39f249a16976918f6564b8830bc894c89659\n"
        "    placements: [{pool: c/p, replicas: 1}]\n    rollout: {strategy: rolling}\n"
    )
    path = tmp_path / "llm.yaml"
    path.write_text(two.replace("replicas: 2", "replicas: 1"))
    with pytest.raises(SpecInvalid) as info:
        compile_file(path)
    assert any("served as 'm'" in d.message for d in info.value.diagnostics)
