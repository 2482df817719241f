"""Property: whatever bytes or mutated spec come in, llmctl answers with a clear error or a valid
result, exit 0 or 1, never a traceback."""

from __future__ import annotations

import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from llmctl.compile import compile_file
from llmctl.errors import LlmctlError, SpecInvalid
from tests.conftest import EXAMPLES, example

_yaml = YAML(typ="safe")
SPECS = [_yaml.load(example(name).read_text()) for name in EXAMPLES]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.sampled_from(["", "hf://x/y", "s3://b/p", "c/p", "1.33", "spot"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*path, i))


@st.composite
def mutated_specs(draw):
    spec = copy.deepcopy(draw(st.sampled_from(SPECS)))
    for _ in range(draw(st.integers(1, 3))):
        paths = [p for p in _paths(spec) if p]
        if not paths:
            break
        path = draw(st.sampled_from(paths))
        parent = spec
        for part in path[:-1]:
            parent = parent[part]
        action = draw(st.sampled_from(["replace", "delete", "rename"]))
        if action == "replace":
            parent[path[-1]] = draw(values)
        elif action == "delete":
            del parent[path[-1]]
        elif isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=12))] = parent.pop(path[-1])
    return spec


def _check(path):
    try:
        compile_file(path)
    except SpecInvalid as exc:
        assert exc.diagnostics, "an invalid spec must say why"
        for d in exc.diagnostics:
            assert d.message and d.line >= 1 and d.column >= 1
    except LlmctlError as exc:
        assert exc.message


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=mutated_specs())
def test_mutated_specs_never_crash(tmp_path, spec):
    import io

    buf = io.StringIO()
    YAML().dump(spec, buf)
    path = tmp_path / "llm.yaml"
    path.write_text(buf.getvalue())
    _check(path)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.one_of(st.binary(max_size=400), st.text(max_size=400).map(str.encode)))
def test_random_bytes_never_crash(tmp_path, data):
    path = tmp_path / "llm.yaml"
    path.write_bytes(data)
    _check(path)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), st.text(max_size=300).map(str.encode)))
def test_validate_command_never_shows_an_internal_error(cli, tmp_path, data):
    path = tmp_path / "llm.yaml"
    path.write_bytes(data)
    code, out, err = cli("validate", "-f", str(path))
    assert code in (0, 1)
    assert "internal error" not in err and "Traceback" not in err
    if code == 1:
        assert err.strip(), "an invalid spec says why"
