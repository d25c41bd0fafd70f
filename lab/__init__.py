"""A local cluster in a box: emulated API server, namespaced nodes, the demo."""
