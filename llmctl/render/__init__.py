"""RENDER: pure functions from the Deployment IR to Kubernetes objects as plain dicts.

One source of truth for what runs in a cluster: the Pulumi stacks register these dicts as they
are, and `llmctl render -o DIR` writes them as YAML for Argo CD or Flux.

- kubernetes.py: the serving objects of a cluster (Namespace, ServiceAccounts, ConfigMaps,
  Deployments, Services, HPAs, PDBs, NetworkPolicy) and `render_cluster_objects`, which puts
  every object of one cluster in apply order.
- monitoring.py: the ServiceMonitor, the HorizontalPodAutoscaler and the prometheus-adapter
  rules the autoscaler's metrics need.
- gateway.py: the OpenAI-compatible endpoint (Gateway API + Envoy Gateway objects).
- writer.py: `render_all` (every cluster, as YAML text) and `write_render_dir`.

Nothing here does I/O except writer.py's `write_render_dir`, and nothing imports pulumi or
boto3. Secret values are never rendered: objects only reference Secrets by name.
"""
