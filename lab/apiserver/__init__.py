"""An emulated Kubernetes API server for tests and the lab: real kopf and real kubectl talk to it.

Import the modules explicitly: `lab.apiserver.runner` (ApiServer, ApiServerThread) is the entry
point; `lab.apiserver.kubeconfig` writes a kubeconfig; `lab.apiserver.faults` injects failures.
"""
