"""The speaker's membership room: which peers are alive, learnt on the wire, Leases as fallback.

Pure decisions (heartbeat codec, peer table, hand-offs) beside their thin shells.
"""
