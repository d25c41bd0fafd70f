"""The speaker's wire room: ARP/NDP codecs, kernel filters, packet sockets and the responder.

Everything that touches frames lives here; it knows nothing of Kubernetes.
"""
