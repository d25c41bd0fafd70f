"""The HTTP face of the emulated API server: routing, discovery, wire formats, tables, watches.

Nothing here decides about objects: requests are parsed into `objects.cluster` calls and their
results (or `ApiError`s) are turned into what kube-apiserver would send.
"""
