"""The edge both programs share: the Kubernetes API client, Leases and kubelet probes (shell)."""
