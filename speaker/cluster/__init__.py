"""The speaker's view of the cluster: parsed Nodes, Services and endpoints, and the election.

Configuration comes from the API server (kopf watches); the decisions here are pure.
"""
