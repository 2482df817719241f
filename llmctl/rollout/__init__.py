"""Progressive rollout: canary steps, their analysis against Prometheus, and rollback."""
