"""Hybrid: monitoring per cluster (compile/monitoring.py) and which gateway spills to which
(compile/overflow.py), from the hybrid example and small variations of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmctl.compile import compile_file
from llmctl.errors import SpecInvalid

HYBRID = (Path(__file__).resolve().parents[2] / "examples" / "hybrid" / "llm.yaml").read_text()
AWS_MONITORING = """    monitoring:
      # KEDA here scales the burst placement from zero on the on-prem queue: the on-prem
      # Prometheus at an address this cluster can reach (not its in-cluster name).
      prometheus_url: https://prometheus.rack7.support.example.com
"""


def compile_text(tmp_path, text):
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    return compile_file(path)


def errors(tmp_path, text):
    with pytest.raises(SpecInvalid) as info:
        compile_text(tmp_path, text)
    return info.value.diagnostics


def test_the_example_spills_from_onprem_to_the_aws_gateway(tmp_path):
    d = compile_text(tmp_path, HYBRID).deployment
    (peer,) = d.gateway.peers
    assert (peer.cluster, peer.peer, peer.routes) == ("onprem", "aws", ("mistral-7b",))
    assert peer.address == "aws.llm.support.example.com"  # the -dns stack's <cluster>.<hostname>
    (model,) = d.models
    # room per replica: max_num_seqs 256 + the requests_waiting target 8
    assert (model.engine.room_max_in_flight, model.engine.room_max_waiting) == (264, 8)
    assert peer.max_in_flight == (6 + 2) * 264  # burst max 6 + standby max 2, at their room
    assert "--middleware" in model.engine.flags
    assert d.gateway.spills_to("aws") == [peer] and d.gateway.peers_of("aws") == []


def test_each_cluster_reads_its_own_prometheus(tmp_path):
    d = compile_text(tmp_path, HYBRID).deployment
    assert d.cluster("onprem").prometheus_url == "http://prometheus.monitoring:9090"  # top-level
    assert d.cluster("aws").prometheus_url == "https://prometheus.rack7.support.example.com"
    # the created EKS cluster gets a Prometheus: the model there has a canary rollout
    assert d.cluster("aws").install_prometheus and not d.cluster("onprem").install_prometheus


def test_a_cloud_scaler_on_another_clusters_in_cluster_name_is_an_error(tmp_path):
    text = HYBRID.replace(AWS_MONITORING, "")
    [d] = errors(tmp_path, text)
    assert d.path == "monitoring.prometheus_url"
    assert d.line == text.splitlines().index("  prometheus_url: http://prometheus.monitoring:9090") + 1
    assert "cluster 'aws' would scale aws/burst of 'mistral-7b' from zero" in d.message
    assert "in-cluster name of another cluster" in d.message
    assert "clusters[1].monitoring.prometheus_url" in d.hint


def test_an_aws_clusters_own_in_cluster_url_is_fine(tmp_path):
    text = HYBRID.replace(
        "https://prometheus.rack7.support.example.com",
        "http://kube-prometheus-stack-prometheus.monitoring:9090",
    )
    d = compile_text(tmp_path, text).deployment
    assert d.cluster("aws").prometheus_url.startswith("http://kube-prometheus-stack")


def test_a_created_cluster_without_prometheus_is_a_warning(tmp_path):
    text = HYBRID.replace(AWS_MONITORING, AWS_MONITORING + "      install_prometheus: false\n")
    compiled = compile_text(tmp_path, text)
    assert not compiled.deployment.cluster("aws").install_prometheus
    [w] = [w for w in compiled.warnings if "install_prometheus" in w.path]
    assert w.path == "clusters[1].monitoring.install_prometheus"
    assert "ServiceMonitor, KEDA ScaledObjects and rollout analysis have nothing to read" in w.message
    assert "mistral-7b: canary rollout analysis" in w.message


def test_install_prometheus_on_an_existing_cluster_is_an_error(tmp_path):
    text = HYBRID.replace(
        "    kubernetes: {context: rack7}\n",
        "    kubernetes: {context: rack7}\n    monitoring: {install_prometheus: true}\n",
    )
    [d] = errors(tmp_path, text)
    assert d.path == "clusters[0].monitoring.install_prometheus"
    assert "is an existing cluster" in d.message


def test_without_dns_zone_the_gateways_do_not_spill_and_validate_says_so(tmp_path):
    text = HYBRID.replace("  dns_zone: support.example.com\n", "")
    compiled = compile_text(tmp_path, text)
    assert compiled.deployment.gateway.peers == ()
    assert compiled.deployment.models[0].engine.room_max_in_flight is None
    [w] = [w for w in compiled.warnings if "not routed by the gateways" in w.message]
    assert "onprem -> aws" in w.message and "dns_zone" in w.hint


CROSS_FALLBACK = HYBRID.replace(
    "models:\n",
    "models:\n"
    "  - name: qwen-7b\n"
    "    source: hf://Qwen/Qwen2.5-7B-Instruct\n"
    "    revision: a09a35458c702b33eeacc393d103063234e8bc28\n"
    "    placements:\n"
    "      - pool: aws/standby\n"
    "        replicas: 1\n"
    "        traffic: active\n"
    "    rollout: {strategy: rolling}\n",
).replace(
    "monitoring:\n  prometheus_url",
    "  routes:\n"
    "    - name: chat\n"
    "      backends: [{model: mistral-7b}]\n"
    "      fallback: [qwen-7b]\n"
    "monitoring:\n  prometheus_url",
)


def test_a_fallback_placed_only_on_another_cluster_spills_there(tmp_path):
    text = CROSS_FALLBACK.replace(
        """      - pool: aws/burst
        replicas: {min: 0, max: 6}
        traffic: overflow
        overflow_hours_per_month: 40    # bursts past on-prem's room: the plan's expected cost
      - pool: aws/standby
        replicas: {min: 1, max: 2}      # a warm standby: DNS fails over to it at once
        traffic: failover
""",
        "",
    )
    d = compile_text(tmp_path, text).deployment
    assert [p.pool for p in d.models[1].placements] == ["onprem/l40s"]  # mistral: on-prem only
    (peer,) = d.gateway.peers
    assert (peer.cluster, peer.peer, peer.routes) == ("onprem", "aws", ("chat",))
    assert peer.max_in_flight == 1 * (256 + 5)  # qwen's one replica, default room
    # the aws gateway serves the route by its fallback: the model placed there
    from llmctl.render.gateway import local_routes

    (route,) = local_routes(d, "aws")
    assert route.name == "chat" and dict(route.backends) == {"qwen-7b": 100}
    assert route.fallback == ()
    # both ends' replicas answer the room check: mistral on-prem, qwen in the cloud
    assert all(m.engine.room_max_in_flight for m in d.models)
