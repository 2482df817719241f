"""Hostile specs (issue 14, items 4 and 8): tiny files that describe huge documents, absurd
numbers, unsupported YAML tags. Each gets one clear located error, quickly, in bounded memory;
merge keys, which GitOps users write to share settings, work."""

from __future__ import annotations

import time
import tracemalloc

import pytest

from llmctl.compile import compile_file
from llmctl.errors import SpecInvalid
from llmctl.sizing import nodes_needed
from tests.spec.test_loader import BASE

# Generous bounds: the point is "not minutes, not gigabytes", not a benchmark (see bench/).
SECONDS = 5.0
PEAK_BYTES = 64 * 1024 * 1024


def _bomb(levels: int = 9, width: int = 9, flow: str = "[]") -> str:
    """The classic YAML alias bomb: `width` aliases of the level below, `levels` deep."""
    open_, close = flow
    lines = [f"l0: &l0 {open_}" + ", ".join(["x"] * width) + f"{close}"]
    for i in range(1, levels):
        refs = ", ".join([f"*l{i - 1}"] * width)
        lines.append(f"l{i}: &l{i} {open_}{refs}{close}")
    return "\n".join(lines) + "\n"


def _map_bomb(levels: int = 9) -> str:
    lines = ["m0: &m0 {a: x, b: x, c: x, d: x, e: x, f: x, g: x, h: x, i: x}"]
    for i in range(1, levels):
        refs = ", ".join(f"k{j}: *m{i - 1}" for j in range(9))
        lines.append(f"m{i}: &m{i} {{{refs}}}")
    return "\n".join(lines) + "\n"


def _merge_bomb(levels: int = 12) -> str:
    # Each level merges the one below and adds nine keys of its own.
    lines = ["d0: &d0 {a0: 1}"]
    for i in range(1, levels):
        keys = ", ".join(f"k{i}_{j}: *d{i - 1}" for j in range(9))
        lines.append(f"d{i}: &d{i} {{<<: *d{i - 1}, {keys}}}")
    return "\n".join(lines) + "\n"


def _errors(tmp_path, text: str) -> tuple[list, float, int]:
    """Compile `text`: its diagnostics, the seconds taken, and the peak memory traced in a
    second run (tracemalloc slows Python down several times, so it is not timed)."""
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    start = time.perf_counter()
    with pytest.raises(SpecInvalid) as info:
        compile_file(path)
    seconds = time.perf_counter() - start
    tracemalloc.start()
    try:
        with pytest.raises(SpecInvalid):
            compile_file(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return info.value.diagnostics, seconds, peak


@pytest.mark.parametrize(
    "text",
    [
        _bomb(),
        _bomb(flow="[]") + BASE,
        BASE.replace("version: 1\n", "") + _bomb(levels=12, width=4) + "version: 1\n",
        _map_bomb(),
        _merge_bomb(),
    ],
    ids=["seq-bomb", "seq-bomb-before-spec", "deep-narrow-bomb", "map-bomb", "merge-bomb"],
)
def test_alias_bombs_are_a_located_error_in_bounded_time_and_memory(tmp_path, text):
    [d], seconds, peak = _errors(tmp_path, text)
    assert "expands to more than" in d.message and "aliases" in d.message
    assert d.line > 1  # at the key whose alias made it too large, not the first anchor
    assert "anchors" in d.hint
    assert seconds < SECONDS and peak < PEAK_BYTES, (seconds, peak)


@pytest.mark.parametrize(
    "text",
    ["a: &a [*a]\n", "a: &a {b: *a}\n", "a: &a {<<: *a}\n", "a: &a [x, [y, *a]]\n"],
)
def test_a_value_that_contains_itself_is_an_error(tmp_path, text):
    [d], seconds, _ = _errors(tmp_path, text)
    assert "contains it" in d.message or "into itself" in d.message
    assert d.line == 1 and seconds < SECONDS


def test_too_many_values_are_refused_before_parsing_them_all(tmp_path):
    text = "a: [" + ",".join(["1"] * 60_000) + "]\n"  # 120 KiB, under the size cap
    [d], seconds, peak = _errors(tmp_path, text)
    assert "more than 20,000 values" in d.message and d.line == 1
    assert seconds < SECONDS and peak < PEAK_BYTES, (seconds, peak)


@pytest.mark.parametrize(
    "text",
    [
        "a: " + "[" * 500 + "]" * 500 + "\n",
        # past libyaml's own limit of 1,000 its scanner fails before the depth count sees an
        # event; ruamel.yaml then took 10 s on these 10 KB (quadratic), now refused at once
        "a: " + "[" * 5000 + "]" * 5000 + "\n",
        "a: " + "{b: " * 3000 + "1" + "}" * 3000 + "\n",
    ],
    ids=["500", "5000", "mappings-3000"],
)
def test_deep_nesting_is_refused(tmp_path, text):
    [d], seconds, _ = _errors(tmp_path, text)
    assert "nests more than" in d.message and seconds < SECONDS


def test_a_large_file_is_refused_by_its_size(tmp_path):
    [d], _, _ = _errors(tmp_path, BASE + "#" * (300 * 1024) + "\n")
    assert "KiB" in d.message and "256" in d.message


@pytest.mark.parametrize(
    "old, new, words",
    [
        ("replicas: 2", "replicas: 1000000000", "at most 1000"),
        ("replicas: 2", "replicas: {min: 0, max: 99999999}", "less than or equal to 1000"),
        ("nodes: 2", "nodes: 1000000000", "less than or equal to 10000"),
        ("replicas: 2", "replicas: " + "9" * 5000, "5000 digits is too large"),
        ("replicas: 2", "replicas: 0x" + "f" * 40, "too large"),
        ("nodes: 2", "nodes: 2\n        gpu_hour_usd: .inf", "finite number"),
        ("nodes: 2", "nodes: 2\n        gpu_hour_usd: .nan", "finite number"),
        ("nodes: 2", "nodes: 2\n        gpu_hour_usd: 1e999", "finite number"),
        ("nodes: 2", "nodes: 2\n        gpu_hour_usd: 1e9", "less than or equal to 1000"),
        (
            "    placements:",
            "    engine: {max_model_len: 99999999999999}\n    placements:",
            "less than or equal to 100000000",
        ),
        ("    placements:", "    gpus: 100000\n    placements:", "less than or equal to 1024"),
        ("version: 1", "version: 1.0", "integer 1"),
        ("version: 1", "version: true", "integer 1"),
        ("rollout: {strategy: rolling}", "rollout: {interval: 0s}", "from 1s to 24h"),
        ("rollout: {strategy: rolling}", "rollout: {interval: 25h}", "from 1s to 24h"),
        (
            "rollout: {strategy: rolling}",
            "rollout: {interval: 99999999999999999999h}",
            "at most 8 characters",
        ),
    ],
)
def test_absurd_numbers_are_located_errors(tmp_path, old, new, words):
    text = BASE.replace(old, new)
    assert text != BASE
    diags, seconds, peak = _errors(tmp_path, text)
    assert any(words in d.message for d in diags), [d.message for d in diags]
    assert all(d.line >= 1 and d.column >= 1 and d.file for d in diags)
    assert seconds < SECONDS and peak < PEAK_BYTES, (seconds, peak)


def test_largest_allowed_numbers_compile_without_per_replica_work(tmp_path):
    text = BASE.replace("nodes: 2", "nodes: 10000").replace("replicas: 2", "replicas: 1000")
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    start = time.perf_counter()
    compiled = compile_file(path)
    assert compiled.deployment.models[0].placements[0].max_replicas == 1000
    assert time.perf_counter() - start < SECONDS


def test_nodes_needed_works_on_counts_not_lists():
    tracemalloc.start()
    try:
        assert nodes_needed([(3, 10**9), (2, 10**9), (1, 7)], 8) == 625_000_001
        assert nodes_needed([(16, 3), (4, 5), (1, 1)], 8) == 6 + 3
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1024 * 1024


def test_first_fit_on_counts_matches_first_fit_on_lists():
    import math
    import random

    def one_by_one(gpus: list[int], per_node: int) -> int:
        free: list[int] = []
        nodes = 0
        for g in sorted(gpus, reverse=True):
            if g >= per_node:
                nodes += math.ceil(g / per_node)
                continue
            for i, room in enumerate(free):
                if room >= g:
                    free[i] -= g
                    break
            else:
                free.append(per_node - g)
        return nodes + len(free)

    rng = random.Random(14)
    for _ in range(3000):
        per_node = rng.choice([1, 2, 3, 4, 6, 8, 16])
        groups = [(rng.choice([1, 2, 3, 4, 5, 8, 16, 24]), rng.randint(0, 9)) for _ in range(4)]
        flat = [g for g, n in groups for _ in range(n)]
        assert nodes_needed(groups, per_node) == one_by_one(flat, per_node), (groups, per_node)


# --- YAML merge keys and tags (item 8) ---------------------------------------------------------

MERGED = """\
version: 1
name: t
clusters:
  - name: c
    kubernetes: {context: x}
    pools:
      - &pool
        name: p
        gpu: {model: L40S, per_node: 4}
        nodes: 2
      - <<: *pool
        name: q
models:
  - &model
    name: m
    source: hf://meta-llama/Llama-3.1-8B-Instruct
    revision: 0e9e39f249a16976918f6564b8830bc894c89659
    engine: &engine {max_model_len: 4096}
    placements:
      - pool: c/p
        replicas: 1
    rollout: {strategy: rolling}
  - <<: [*model]
    name: n
    engine: {<<: *engine, dtype: float16}
    placements: [{pool: c/q, replicas: 1}]
"""


def test_merge_keys_share_settings(tmp_path):
    path = tmp_path / "llm.yaml"
    path.write_text(MERGED)
    d = compile_file(path).deployment
    assert [p.name for p in d.clusters[0].pools] == ["p", "q"]
    assert d.pool("c/q").gpus_per_node == 4
    m, n = d.models
    assert n.source == m.source and n.revision == m.revision
    assert n.engine.max_model_len == 4096 and n.engine.dtype == "float16"
    assert [p.pool for p in n.placements] == ["c/q"]  # an own key wins over the merged one


def test_an_error_in_a_merged_value_points_at_where_it_is_written(tmp_path):
    text = MERGED.replace("nodes: 2", "nodes: many")
    diags, _, _ = _errors(tmp_path, text)
    assert {(d.path, d.line) for d in diags} == {
        ("clusters[0].pools[0].nodes", 10),
        ("clusters[0].pools[1].nodes", 10),
    }


def test_merge_of_a_scalar_is_a_located_error(tmp_path):
    text = MERGED.replace("      - <<: *pool\n", "      - <<: p\n")
    [d], _, _ = _errors(tmp_path, text)
    assert "merge key" in d.message and d.line == 11


@pytest.mark.parametrize(
    "value, shown",
    [
        ("!!omap [a: b]", "!!omap"),
        ("!!set {a, b}", "!!set"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!custom x", "!custom"),
        ("!!python/object:os.system x", "!!python/object:os.system"),
    ],
)
def test_other_tags_are_a_located_error(tmp_path, value, shown):
    text = BASE.replace("name: t\n", f"name: t\nlabels: {value}\n")
    [d], _, _ = _errors(tmp_path, text)
    assert d.message == f"YAML tag {shown} is not supported in llm.yaml"
    assert (d.line, d.column) == (3, 9)
    assert "merge keys" in d.hint


def test_explicit_core_tags_still_work(tmp_path):
    text = BASE.replace("name: t\n", 'name: t\nlabels: {team: !!str 42, cost: !!str "7"}\n')
    path = tmp_path / "llm.yaml"
    path.write_text(text)
    assert compile_file(path).deployment.labels == {"team": "42", "cost": "7"}


def test_validate_command_reports_hostile_input_without_a_traceback(tmp_path):
    from typer.testing import CliRunner

    from llmctl.cli.main import app

    path = tmp_path / "llm.yaml"
    for text in (_bomb(), MERGED.replace("rolling", "!!omap []"), BASE.replace("2", "9" * 5000)):
        path.write_text(text)
        result = CliRunner().invoke(app, ["validate", "-f", str(path)])
        assert result.exit_code == 1, result.output
        assert "internal error" not in result.output and "Traceback" not in result.output
