"""The OpenAI-compatible endpoint of a cluster: Gateway API objects for Envoy Gateway.

How a request finds its model. OpenAI clients name the model in the JSON body, which Gateway
API cannot match on. llmctl moves it to a header, then routes on the header:

1. An EnvoyExtensionPolicy on the Gateway runs a Lua script (Envoy's Lua filter) on every
   request: for a JSON POST it reads the body, takes the top-level "model" string (a small
   JSON scanner, so a "model" key nested in messages or tools is ignored), sets the header
   `x-llmctl-model` (a client-sent one is always dropped first), and calls clearRouteCache() so
   Envoy matches the routes again with the header.
2. One HTTPRoute per llm.yaml route matches `x-llmctl-model: <route name>` and weights the
   Services of the route's models on this cluster.
3. A fall-through HTTPRoute answers `GET /v1/models` with the routes served here, and anything
   else with an OpenAI-style 404 `model_not_found`. It is also what every request matches
   before the Lua filter runs, which Envoy Gateway needs to apply the Gateway's filters at all.

API keys: a SecurityPolicy (Envoy's api_key_auth filter) checks `Authorization: Bearer <key>`
or `x-api-key` against the Secret "<name>-api-keys" (one entry per client: client id -> key),
which the stack creates from the environment variable named in llm.yaml; no key value is ever
rendered. The key is stripped before proxying and the client id forwarded as
`x-llmctl-client`. Rate limit: a BackendTrafficPolicy with a global (Redis-backed, shared by
every Envoy replica) limit of requests_per_minute per distinct `x-llmctl-client`, one bucket
across all routes (`shared`); without API keys, per client IP. Global rate limiting needs
Envoy Gateway's rate limit service enabled (EnvoyGateway `rateLimit.backend` with Redis).
A ClientTrafficPolicy raises Envoy Gateway's 32 KiB per-connection buffer to 16 MiB, since
the Lua filter buffers whole request bodies (long prompts, images).

Traffic roles: within a cluster a model's `active` placements share its weight by their
maximum replicas; `overflow`/`failover` placements are referenced at weight 0, unless the model
has no active placement on this cluster (then traffic only arrives here when it is needed,
and they take the weight). Between clusters: a route whose cluster has peers
(`GatewayIR.peers`, compile/overflow.py) spills to the peer's gateway by load and on failures
(failover.py); DNS (Route 53, stacks/dns.py) moves everything when a gateway itself is down.

What is real here and what remains: the objects are valid Gateway API v1 and Envoy Gateway
v1alpha1 resources (Lua extensions need Envoy Gateway v1.5 or later with Lua enabled, and
clearRouteCache() needs its Envoy to ship it). A route's name reaches vLLM as the request's
"model": compile adds it to the served names of the route's models (`served_aliases`). A
fallback model placed only on another cluster is reached through that cluster's gateway (a peer).
Every gateway answers GET /health and /llmctl/room itself, without an API key.

Route fallback: a route with `fallback:` models references its Services through Envoy Gateway
Backend objects (FQDN endpoints of the Services), the fallback ones marked `fallback: true`, so
Envoy puts them in a lower priority and sends traffic there only when the primary endpoints are
ejected. A BackendTrafficPolicy on that route (merged with the Gateway's) ejects an endpoint
after 3 consecutive 5xx (passive health check) and retries connect failures and 502/503/504
once on another endpoint. Backend objects need `extensionApis.enableBackend` in Envoy Gateway's
config; the Lua filter needs `extensionApis.enableLua` (stacks/serving.py sets both).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from math import gcd
from typing import Any

from llmctl.image import PORT
from llmctl.ir import ClusterIR, Deployment, ModelIR, PoolIR, RouteIR
from llmctl.render.envoy_lua import MODEL_HEADER, MODEL_HEADER_LUA
from llmctl.render.failover import (
    failover_policy,
    fallback_services,
    headless_service,
    peer_backend,
    peer_backend_name,
    peer_ref,
    spill_policy,
    via_backend,
)
from llmctl.render.gateway_api import EG_API, GW_API, namespaced_object, serving_placements
from llmctl.render.kubernetes import Track, common_labels, k8s_name, workload_name
from llmctl.render.upstream_auth import PEER_CLIENT_PREFIX, credential_injection_spec
from llmctl.serving.room import ROOM_PATH

Obj = dict[str, Any]

GATEWAY_CLASS = "envoy-gateway"
GATEWAY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
CLIENT_HEADER = "x-llmctl-client"
FALLBACK_ANNOTATION = "llmctl.dev/fallback"
BUFFER_LIMIT = "16Mi"
REQUEST_TIMEOUT = "900s"
HEALTH_PATH = "/health"  # what the -dns stack's Route 53 health checks request  # a whole streamed completion, not just the first byte


def api_keys_secret_name(deployment: Deployment) -> str:
    """The Secret the stack creates with the API keys (client id -> key)."""
    return k8s_name(deployment.name, "api-keys")


def tls_secret_name(deployment: Deployment) -> str:
    """The Secret holding the HTTPS listener's certificate (cert-manager or the user makes it)."""
    return k8s_name(deployment.name, "tls")


def _gateway_ref() -> Obj:
    return {"group": GW_API, "kind": "Gateway"}


def _policy(kind: str, name: str, deployment: Deployment, cluster: ClusterIR, spec: Obj) -> Obj:
    target = {**_gateway_ref(), "name": deployment.name}
    return namespaced_object(
        f"{EG_API}/v1alpha1", kind, name, deployment, cluster, {"targetRefs": [target], **spec}
    )


Source = tuple[ModelIR, PoolIR, Track]  # what a Service ref serves: one track of a placement


def _backend_refs(
    deployment: Deployment, route: RouteIR, cluster: str, canary: Mapping[str, int]
) -> list[tuple[Obj, Source]]:
    models = {m.name: m for m in deployment.models}
    refs: list[tuple[Source, int]] = []
    for model_name, weight in route.backends:
        model = models[model_name]
        percent = canary.get(model_name)
        for placement, share in serving_placements(model, cluster):
            pool = deployment.pool(placement.pool)
            base = weight * share
            if percent is None:
                refs.append(((model, pool, "stable"), base * 100))
            else:
                refs.append(((model, pool, "stable"), base * (100 - percent)))
                refs.append(((model, pool, "canary"), base * percent))
    divisor = 0
    for _, w in refs:
        divisor = gcd(divisor, w)
    return [
        (
            {
                "group": "",
                "kind": "Service",
                "name": workload_name(*source),
                "port": PORT,
                "weight": w // divisor if divisor else 0,
            },
            source,
        )
        for source, w in refs
    ]


def gateway_class_object(deployment: Deployment, gateway_class: str = GATEWAY_CLASS) -> Obj:
    """The cluster-scoped GatewayClass that hands the Gateway to Envoy Gateway's controller."""
    return {
        "apiVersion": f"{GW_API}/v1",
        "kind": "GatewayClass",
        "metadata": {"name": gateway_class, "labels": common_labels(deployment)},
        "spec": {"controllerName": GATEWAY_CONTROLLER},
    }


def _parent(deployment: Deployment, listener: str) -> list[Obj]:
    return [{**_gateway_ref(), "name": deployment.name, "sectionName": listener}]


def _route(
    deployment: Deployment,
    cluster: ClusterIR,
    name: str,
    listener: str,
    rules: list[Obj],
    annotations: dict[str, str] | None = None,
) -> Obj:
    spec: Obj = {"parentRefs": _parent(deployment, listener)}
    if deployment.gateway.hostname:
        spec["hostnames"] = [deployment.gateway.hostname]
    spec["rules"] = rules
    obj = namespaced_object(
        f"{GW_API}/v1", "HTTPRoute", k8s_name(deployment.name, name), deployment, cluster, spec
    )
    if annotations:
        obj["metadata"]["annotations"] = annotations
    return obj


def _direct_response(
    deployment: Deployment, cluster: ClusterIR, name: str, status: int, body: Obj
) -> Obj:
    return namespaced_object(
        f"{EG_API}/v1alpha1",
        "HTTPRouteFilter",
        k8s_name(deployment.name, name),
        deployment,
        cluster,
        {
            "directResponse": {
                "contentType": "application/json",
                "statusCode": status,
                "body": {"type": "Inline", "inline": json.dumps(body, sort_keys=True)},
            }
        },
    )


def _filter_ref(obj: Obj) -> Obj:
    return {
        "type": "ExtensionRef",
        "extensionRef": {
            "group": EG_API,
            "kind": "HTTPRouteFilter",
            "name": obj["metadata"]["name"],
        },
    }


def _health_objects(deployment: Deployment, cluster: ClusterIR, listener: str) -> list[Obj]:
    """GET /health (Route 53's health checks) and /llmctl/room (another cluster's gateway,
    deciding whether it may spill here) answered 200 by the gateway itself, without an API key:
    a SecurityPolicy on this route displaces the Gateway's (Envoy Gateway applies the most
    specific one) with one that allows every request."""
    ok = _direct_response(deployment, cluster, "health", 200, {"status": "ok"})
    route = _route(
        deployment,
        cluster,
        "health",
        listener,
        [
            {
                "matches": [
                    {"path": {"type": "Exact", "value": path}, "method": "GET"}
                    for path in (HEALTH_PATH, ROOM_PATH)
                ],
                "filters": [_filter_ref(ok)],
            }
        ],
    )
    out = [ok, route]
    if deployment.gateway.api_keys_secret_env:
        target = {"group": GW_API, "kind": "HTTPRoute", "name": route["metadata"]["name"]}
        out.append(
            namespaced_object(
                f"{EG_API}/v1alpha1",
                "SecurityPolicy",
                k8s_name(deployment.name, "health-open"),
                deployment,
                cluster,
                {"targetRefs": [target], "authorization": {"defaultAction": "Allow"}},
            )
        )
    return out


def local_routes(deployment: Deployment, cluster: str) -> list[RouteIR]:
    """The routes with at least one backend model placed on `cluster`, each cut to those models;
    a route none of whose backends is placed here but whose fallback is, served by that fallback
    (what another cluster's gateway spills the route to: a cross-cluster fallback)."""
    placed = {m.name for m, _ in deployment.models_on(cluster)}
    out = []
    for route in deployment.gateway.routes:
        backends = tuple(b for b in route.backends if b[0] in placed)
        if backends:
            out.append(route.model_copy(update={"backends": backends}))
            continue
        fallbacks = tuple((fb, 100) for fb in route.fallback if fb in placed)
        if fallbacks:
            out.append(route.model_copy(update={"backends": fallbacks, "fallback": ()}))
    return out


def _fallback_sources(
    deployment: Deployment, route: RouteIR, cluster: str
) -> list[tuple[Obj, Source]]:
    """The route's fallback models on `cluster` with what each Service ref serves (stable)."""
    models = {m.name: m for m in deployment.models}
    out: list[tuple[Obj, Source]] = []
    for name in route.fallback:
        model = models[name]
        for placement, _ in serving_placements(model, cluster):
            pool = deployment.pool(placement.pool)
            out.append(({"name": workload_name(model, pool)}, (model, pool, "stable")))
    return out


def _route_capacity(deployment: Deployment, cluster: str, route: RouteIR) -> int:
    """Requests the route's replicas on `cluster` have room for, at their maximum count."""
    models = {m.name: m for m in deployment.models}
    total = 0
    for name in dict.fromkeys([b for b, _ in route.backends] + list(route.fallback)):
        model = models[name]
        room = model.engine.room_max_in_flight or model.engine.max_num_seqs
        total += sum(p.max_replicas * room for p in model.placements if p.cluster == cluster)
    return total


def render_gateway_objects(
    deployment: Deployment,
    cluster: str,
    canary: Mapping[str, int] | None = None,
    gateway_class: str = GATEWAY_CLASS,
) -> list[Obj]:
    """The gateway objects of `cluster`, in apply order; none when no model is placed there.

    `canary` maps a model to the percent of its traffic its canary Services get (rollout).
    """
    c = deployment.cluster(cluster)
    routes = local_routes(deployment, cluster)
    if not routes:
        return []
    gw = deployment.gateway
    listeners: list[Obj] = [
        {
            "name": "http",
            "protocol": "HTTP",
            "port": 80,
            "allowedRoutes": {"namespaces": {"from": "Same"}},
        }
    ]
    if gw.hostname:
        listeners[0]["hostname"] = gw.hostname
        listeners.append(
            {
                "name": "https",
                "protocol": "HTTPS",
                "port": 443,
                "hostname": gw.hostname,
                "tls": {
                    "mode": "Terminate",
                    "certificateRefs": [
                        {"group": "", "kind": "Secret", "name": tls_secret_name(deployment)}
                    ],
                },
                "allowedRoutes": {"namespaces": {"from": "Same"}},
            }
        )
    serve_on = "https" if gw.hostname else "http"
    objects: list[Obj] = [
        gateway_class_object(deployment, gateway_class),
        namespaced_object(
            f"{GW_API}/v1",
            "Gateway",
            deployment.name,
            deployment,
            c,
            {"gatewayClassName": gateway_class, "listeners": listeners},
        ),
        _policy(
            "ClientTrafficPolicy",
            k8s_name(deployment.name, "client"),
            deployment,
            c,
            {"connection": {"bufferLimit": BUFFER_LIMIT}},
        ),
    ]
    if gw.api_keys_secret_env:
        objects.append(
            _policy(
                "SecurityPolicy",
                k8s_name(deployment.name, "api-keys"),
                deployment,
                c,
                {
                    "apiKeyAuth": {
                        "credentialRefs": [
                            {
                                "group": "",
                                "kind": "Secret",
                                "name": api_keys_secret_name(deployment),
                            }
                        ],
                        "extractFrom": [{"headers": ["authorization"]}, {"headers": ["x-api-key"]}],
                        "forwardClientIDHeader": CLIENT_HEADER,
                        "sanitize": True,
                    }
                },
            )
        )
    if gw.requests_per_minute:
        selector: Obj = (
            {"headers": [{"name": CLIENT_HEADER, "type": "Distinct"}]}
            if gw.api_keys_secret_env
            else {"sourceCIDR": {"type": "Distinct", "value": "0.0.0.0/0"}}
        )
        if gw.api_keys_secret_env and gw.spills_to(cluster):
            # Another cluster's gateway, spilling here, counted its clients' requests already.
            selector["headers"].append(
                {
                    "name": CLIENT_HEADER,
                    "type": "RegularExpression",
                    "value": PEER_CLIENT_PREFIX + ".*",
                    "invert": True,
                }
            )
        objects.append(
            _policy(
                "BackendTrafficPolicy",
                k8s_name(deployment.name, "rate-limit"),
                deployment,
                c,
                {
                    "rateLimit": {
                        "type": "Global",
                        "global": {
                            "rules": [
                                {
                                    "clientSelectors": [selector],
                                    "limit": {"requests": gw.requests_per_minute, "unit": "Minute"},
                                    "shared": True,
                                }
                            ]
                        },
                    }
                },
            )
        )
    objects.append(
        _policy(
            "EnvoyExtensionPolicy",
            k8s_name(deployment.name, "model-header"),
            deployment,
            c,
            {"lua": [{"type": "Inline", "inline": MODEL_HEADER_LUA}]},
        )
    )
    models_list = _direct_response(
        deployment,
        c,
        "models",
        200,
        {
            "object": "list",
            "data": [{"id": r.name, "object": "model", "owned_by": "llmctl"} for r in routes],
        },
    )
    unknown = _direct_response(
        deployment,
        c,
        "unknown-model",
        404,
        {
            "error": {
                "message": 'unknown model; set the request body\'s "model" to one of: '
                + ", ".join(r.name for r in routes),
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            }
        },
    )
    # The pods check a key of their own (render/upstream_auth.py); the gateway adds it upstream.
    upstream_key = namespaced_object(
        f"{EG_API}/v1alpha1",
        "HTTPRouteFilter",
        k8s_name(deployment.name, "upstream-key"),
        deployment,
        c,
        credential_injection_spec(deployment),
    )
    objects += [models_list, unknown, upstream_key]

    backends: dict[str, Obj] = {}
    pods_services: dict[str, Obj] = {}
    peers = deployment.gateway.peers_of(cluster)
    for route in routes:
        sourced = _backend_refs(deployment, route, cluster, canary or {})
        refs = [ref for ref, _ in sourced]
        fallbacks = fallback_services(deployment, route, cluster)
        route_peers = [p for p in peers if route.name in p.routes]
        # Taking another gateway's spill: the same one-cluster form, so that a placement at zero
        # replicas (an overflow one, before KEDA starts it) is an empty locality Envoy skips,
        # not a weighted share answered 503.
        receiving = any(route.name in p.routes for p in deployment.gateway.spills_to(cluster))
        spill_limit = 0
        if route_peers or receiving:
            # Every ref a Backend of one address type, so that Envoy Gateway keeps them in one
            # Envoy cluster with priorities (failover.py): local pods first, peers after.
            sources = sourced + [
                (ref, src) for ref, src in _fallback_sources(deployment, route, cluster)
            ]
            for _ref, (model, pool, track) in sources:
                svc = headless_service(deployment, c, model, pool, track)
                pods_services[svc["metadata"]["name"]] = svc
            refs = [via_backend(deployment, c, ref, False, backends, pods=True) for ref in refs]
            refs += [
                via_backend(deployment, c, ref, True, backends, pods=True) for ref in fallbacks
            ]
            for peer in route_peers:
                backends.setdefault(
                    peer_backend_name(deployment, peer), peer_backend(deployment, c, peer)
                )
                refs.append(peer_ref(deployment, peer))
            spill_limit = _route_capacity(deployment, cluster, route) + sum(
                p.max_in_flight for p in route_peers
            )
        elif fallbacks:
            refs = [via_backend(deployment, c, ref, False, backends) for ref in refs]
            refs += [via_backend(deployment, c, ref, True, backends) for ref in fallbacks]
        rule = {
            "matches": [
                {
                    "path": {"type": "PathPrefix", "value": "/v1"},
                    "headers": [{"type": "Exact", "name": MODEL_HEADER, "value": route.name}],
                }
            ],
            "filters": [_filter_ref(upstream_key)],
            "backendRefs": refs,
            "timeouts": {"request": REQUEST_TIMEOUT},
        }
        notes = {FALLBACK_ANNOTATION: ",".join(route.fallback)} if route.fallback else None
        http_route = _route(
            deployment, c, f"route-{route.key or route.name}", serve_on, [rule], notes
        )
        objects.append(http_route)
        if route_peers or receiving:
            objects.append(spill_policy(deployment, c, http_route, spill_limit))
        elif fallbacks:
            objects.append(failover_policy(deployment, c, http_route))
    objects += pods_services.values()
    objects += backends.values()  # render_cluster_objects orders them before the routes
    objects.append(
        _route(
            deployment,
            c,
            "fallthrough",
            serve_on,
            [
                {
                    "matches": [
                        {"path": {"type": "Exact", "value": "/v1/models"}, "method": "GET"}
                    ],
                    "filters": [_filter_ref(models_list)],
                },
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "filters": [_filter_ref(unknown)],
                },
            ],
        )
    )
    objects += _health_objects(deployment, c, serve_on)
    if gw.hostname:
        objects.append(
            _route(
                deployment,
                c,
                "https-redirect",
                "http",
                [
                    {
                        "filters": [
                            {
                                "type": "RequestRedirect",
                                "requestRedirect": {"scheme": "https", "statusCode": 301},
                            }
                        ]
                    }
                ],
            )
        )
    return objects
