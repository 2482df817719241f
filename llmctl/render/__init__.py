"""RENDER: pure functions from the Deployment IR to Kubernetes objects as plain dicts.

One source of truth for what runs in a cluster: the Pulumi stacks register these dicts as they
are, and `llmctl render -o DIR` writes them as YAML for Argo CD or Flux.

- cluster.py: the entry points. `render_cluster_objects` (every object of one cluster, in
  apply order) and `render_model_objects` (one track of one placement, for canaries); also the
  cluster-wide Namespace and NetworkPolicy.
- kubernetes.py: the serving objects (ServiceAccount, ConfigMap, Deployment, Service, PDB),
  names and labels.
- monitoring.py: the ServiceMonitor, the HorizontalPodAutoscaler and the prometheus-adapter
  rules the autoscaler's metrics need.
- gateway.py (+ envoy_lua.py): the OpenAI-compatible endpoint, Gateway API and Envoy Gateway
  objects, with the Lua script that routes on the request body's "model".
- writer.py: `render_all` (every cluster, as YAML text) and `write_render_dir`.

Nothing here does I/O except writer.py's `write_render_dir`, and nothing imports pulumi or
boto3. Secret values are never rendered: objects only reference Secrets by name.
"""
