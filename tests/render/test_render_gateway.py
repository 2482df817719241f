"""The gateway objects: routes and weights per cluster, canary weights, API keys and rate limit,
and the Lua script that turns the body's "model" into a header, run in a real LuaJIT (lupa)
against a stand-in of Envoy's request handle."""

from __future__ import annotations

import json

import pytest
from render_helpers import ALL_FEATURES, cluster_objects, deployment_of, golden_release, of_kind

from llmctl.render.envoy_lua import MODEL_HEADER, MODEL_HEADER_LUA
from llmctl.render.gateway import render_gateway_objects


def _routes(objects: list[dict]) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in of_kind(objects, "HTTPRoute")}


def _weights(route: dict) -> dict[str, int]:
    """Service -> weight of the route's primary backends (a route with fallbacks reaches its
    Services through `<service>-primary` Backends; its `-fallback` ones are left out here)."""
    (rule,) = route["spec"]["rules"]
    return {
        r["name"].removesuffix("-primary"): r["weight"]
        for r in rule["backendRefs"]
        if not r["name"].endswith("-fallback")
    }


def test_routes_match_the_model_header_and_weight_local_services() -> None:
    dc1 = _routes(cluster_objects(ALL_FEATURES)["dc1"])
    chat = dc1["support-bot-route-chat"]
    (rule,) = chat["spec"]["rules"]
    (match,) = rule["matches"]
    assert match["headers"] == [{"type": "Exact", "name": MODEL_HEADER, "value": "chat"}]
    assert chat["spec"]["parentRefs"][0]["sectionName"] == "https"
    assert chat["spec"]["hostnames"] == ["llm.example.com"]
    assert _weights(chat) == {"llama-8b-a100": 4, "llama-70b-a100": 1}  # 80:20 in llm.yaml
    assert chat["metadata"]["annotations"] == {"llmctl.dev/fallback": "llama-8b"}
    assert _weights(dc1["support-bot-route-llama-70b"]) == {"llama-70b-a100": 1}
    redirect = dc1["support-bot-https-redirect"]
    assert redirect["spec"]["parentRefs"][0]["sectionName"] == "http"
    assert redirect["spec"]["rules"][0]["filters"][0]["requestRedirect"]["scheme"] == "https"


def test_overflow_placements_weigh_zero_beside_an_active_one() -> None:
    d = deployment_of(ALL_FEATURES)
    # Both llama-8b placements on one cluster: the overflow one is referenced at weight 0.
    model = d.models[0]
    cloud_pool = model.placements[1]
    moved = cloud_pool.model_copy(update={"pool": "dc1/a100", "cluster": "dc1"})
    second = d.clusters[0].pools[0].model_copy(update={"name": "a100b", "key": "dc1/a100b"})
    cluster = d.clusters[0].model_copy(update={"pools": (d.clusters[0].pools[0], second)})
    moved = moved.model_copy(update={"pool": "dc1/a100b"})
    m2 = model.model_copy(update={"placements": (model.placements[0], moved)})
    d2 = d.model_copy(update={"clusters": (cluster, d.clusters[1]), "models": (m2, d.models[1])})
    routes = _routes(render_gateway_objects(d2, "dc1"))
    assert _weights(routes["support-bot-route-chat"]) == {
        "llama-8b-a100": 4,
        "llama-8b-a100b": 0,
        "llama-70b-a100": 1,
    }
    # On a cluster where a model only has overflow/failover placements, those take its weight:
    # DNS only sends traffic there when it is needed.
    cloud = _routes(cluster_objects(ALL_FEATURES)["cloud"])
    assert _weights(cloud["support-bot-route-chat"]) == {"llama-8b-l40s": 4, "llama-70b-l40s": 1}


def test_route_fallback_goes_through_backends_marked_fallback() -> None:
    objects = cluster_objects(ALL_FEATURES)["dc1"]
    chat = _routes(objects)["support-bot-route-chat"]
    (rule,) = chat["spec"]["rules"]
    refs = {r["name"]: r for r in rule["backendRefs"]}
    assert all(
        r["kind"] == "Backend" and r["group"] == "gateway.envoyproxy.io" for r in refs.values()
    )
    assert set(refs) == {
        "llama-8b-a100-primary",
        "llama-70b-a100-primary",
        "llama-8b-a100-fallback",
    }
    backends = {b["metadata"]["name"]: b["spec"] for b in of_kind(objects, "Backend")}
    assert backends["llama-8b-a100-fallback"]["fallback"] is True
    assert "fallback" not in backends["llama-8b-a100-primary"]
    (endpoint,) = backends["llama-70b-a100-primary"]["endpoints"]
    assert endpoint["fqdn"] == {"hostname": "llama-70b-a100.llm.svc.cluster.local", "port": 8000}
    (policy,) = [
        p
        for p in of_kind(objects, "BackendTrafficPolicy")
        if p["metadata"]["name"].endswith("failover")
    ]
    assert policy["spec"]["targetRefs"] == [
        {
            "group": "gateway.networking.k8s.io",
            "kind": "HTTPRoute",
            "name": "support-bot-route-chat",
        }
    ]
    assert policy["spec"]["mergeType"] == "StrategicMerge"  # the Gateway's rate limit still applies
    assert policy["spec"]["healthCheck"]["passive"]["consecutive5XxErrors"] == 3
    # a route without fallbacks keeps plain Service refs
    (plain,) = _routes(objects)["support-bot-route-llama-70b"]["spec"]["rules"]
    assert [r["kind"] for r in plain["backendRefs"]] == ["Service"]


def test_canary_weights_split_each_placement() -> None:
    d = deployment_of(ALL_FEATURES)
    routes = _routes(render_gateway_objects(d, "dc1", canary={"llama-8b": 10}))
    assert _weights(routes["support-bot-route-chat"]) == {
        "llama-8b-a100": 18,
        "llama-8b-a100-canary": 2,
        "llama-70b-a100": 5,
    }  # 72:8:20
    assert _weights(routes["support-bot-route-llama-70b"]) == {"llama-70b-a100": 1}


def test_api_keys_are_referenced_never_rendered(api_keys_in_env: str) -> None:
    from llmctl.render.writer import render_all

    objects = cluster_objects(ALL_FEATURES)["dc1"]
    security, health = of_kind(objects, "SecurityPolicy")
    # /health and /llmctl/room answer without a key: a policy on their route displaces this one
    assert health["spec"] == {
        "targetRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "support-bot-health"}
        ],
        "authorization": {"defaultAction": "Allow"},
    }
    auth = security["spec"]["apiKeyAuth"]
    assert auth["credentialRefs"] == [
        {"group": "", "kind": "Secret", "name": "support-bot-api-keys"}
    ]
    assert auth["extractFrom"] == [{"headers": ["authorization"]}, {"headers": ["x-api-key"]}]
    assert auth["sanitize"] is True  # vLLM never sees the key
    assert not of_kind(objects, "Secret")
    text = "".join(
        render_all(
            golden_release(deployment_of(ALL_FEATURES), {"0.10.2": "a", "0.11.0": "b"})
        ).values()
    )
    for secret in [api_keys_in_env, *(kv.split("=", 1)[1] for kv in api_keys_in_env.split(","))]:
        assert secret not in text


def test_rate_limit_is_per_api_key_across_routes() -> None:
    objects = cluster_objects(ALL_FEATURES)["dc1"]
    (policy,) = [
        p
        for p in of_kind(objects, "BackendTrafficPolicy")
        if p["metadata"]["name"].endswith("rate-limit")
    ]
    (rule,) = policy["spec"]["rateLimit"]["global"]["rules"]
    assert rule["limit"] == {"requests": 600, "unit": "Minute"}
    assert rule["clientSelectors"] == [
        {"headers": [{"name": "x-llmctl-client", "type": "Distinct"}]}
    ]
    assert rule["shared"] is True
    security, _ = of_kind(objects, "SecurityPolicy")
    assert security["spec"]["apiKeyAuth"]["forwardClientIDHeader"] == "x-llmctl-client"


def test_fallthrough_lists_local_models_and_rejects_unknown_ones() -> None:
    objects = cluster_objects(ALL_FEATURES)["dc1"]
    filters = {
        o["metadata"]["name"]: o["spec"]["directResponse"]
        for o in of_kind(objects, "HTTPRouteFilter")
        if "directResponse" in o["spec"]
    }
    models = json.loads(filters["support-bot-models"]["body"]["inline"])
    assert [m["id"] for m in models["data"]] == ["chat", "llama-70b"]
    unknown = filters["support-bot-unknown-model"]
    assert unknown["statusCode"] == 404
    assert json.loads(unknown["body"]["inline"])["error"]["code"] == "model_not_found"


def test_quickstart_gateway_is_plain_http_without_keys() -> None:
    objects = cluster_objects("quickstart")["lab"]
    (gateway,) = of_kind(objects, "Gateway")
    assert [x["name"] for x in gateway["spec"]["listeners"]] == ["http"]
    assert not of_kind(objects, "SecurityPolicy") and not of_kind(objects, "BackendTrafficPolicy")
    route = _routes(objects)["quickstart-route-qwen-7b"]
    assert _weights(route) == {"qwen-7b-l4": 1}


def test_no_gateway_objects_on_a_cluster_without_models() -> None:
    d = deployment_of(ALL_FEATURES)
    only_dc1 = tuple(m.model_copy(update={"placements": m.placements[:1]}) for m in d.models)
    assert render_gateway_objects(d.model_copy(update={"models": only_dc1}), "cloud") == []


@pytest.fixture(scope="module")
def lua():
    """LuaJIT (Envoy's Lua runtime) with the rendered script and a stand-in request handle."""
    lupa = pytest.importorskip("lupa.luajit21")
    runtime = lupa.LuaRuntime()
    runtime.execute(MODEL_HEADER_LUA)
    # Stand-in for Envoy's stream handle: the headers/body/clearRouteCache API the script uses.
    runtime.execute("""
        function standin_handle(hdrs, body)
          local h = {hdrs = hdrs, cleared = false}
          local headers = {}
          function headers:get(k) return h.hdrs[k] end
          function headers:remove(k) h.hdrs[k] = nil end
          function headers:replace(k, v) h.hdrs[k] = v end
          local b = nil
          if body ~= nil then
            b = {s = body}
            function b:length() return #self.s end
            function b:getBytes(i, n) return self.s:sub(i + 1, i + n) end
          end
          function h:headers() return headers end
          function h:body() return b end
          function h:clearRouteCache() self.cleared = true end
          return h
        end
    """)
    return runtime


def _run(lua, headers: dict[str, str], body: str | None):
    handle = lua.globals().standin_handle(lua.table_from(headers), body)
    lua.globals().envoy_on_request(handle)
    return dict(handle.hdrs), handle.cleared


@pytest.mark.parametrize(
    ("body", "model"),
    [
        ('{"model": "chat", "messages": [{"role": "user", "content": "hi"}]}', "chat"),
        # OpenAI's Python SDK puts messages first; nested "model" keys and escaped quotes are not it.
        (
            json.dumps(
                {
                    "messages": [{"role": "user", "content": '{"model": "evil"} \\" "model": "x'}],
                    "tools": [
                        {"function": {"parameters": {"properties": {"model": {"type": "string"}}}}}
                    ],
                    "metadata": {"model": "nested"},
                    "model": "llama-70b",
                }
            ),
            "llama-70b",
        ),
        ('{"model" : "spaced" }', "spaced"),
        ('{"modelx": "a", "model": "b"}', "b"),
        ('{"model": 42}', None),
        ('[{"model": "x"}]', None),
        ("not json", None),
    ],
)
def test_lua_sets_the_header_from_the_top_level_model(lua, body: str, model: str | None) -> None:
    headers, cleared = _run(
        lua, {":method": "POST", "content-type": "application/json", MODEL_HEADER: "spoofed"}, body
    )
    assert headers.get(MODEL_HEADER) == model  # a client-sent header never survives
    assert cleared  # routes are matched again with the header


def test_lua_leaves_non_json_requests_alone(lua) -> None:
    headers, cleared = _run(lua, {":method": "GET", MODEL_HEADER: "spoofed"}, None)
    assert MODEL_HEADER not in headers and cleared
    headers, _ = _run(lua, {":method": "POST", "content-type": "text/plain"}, '{"model": "chat"}')
    assert MODEL_HEADER not in headers
