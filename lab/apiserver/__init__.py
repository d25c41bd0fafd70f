"""An emulated Kubernetes API server for tests and the lab: real kopf and real kubectl talk to it.

Import the modules explicitly: `lab.apiserver.runner` (ApiServer, ApiServerThread) is the entry
point; `lab.apiserver.kubeconfig` writes a kubeconfig; `lab.apiserver.faults` injects failures.
Grouped by concern: `http` (routing, discovery, wire formats, watches), `objects` (the store and
the write rules), `schema` (custom-resource validation), `auth` (TLS, tokens, RBAC).
"""
