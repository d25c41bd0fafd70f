"""The failover bench's settings: its Service, timeouts, Observer rates, and the speakers' defaults.

Rule: one place for every fixed number of the method (the module docstring of `bench.failover`
says what each is for), shared by the lab driver, the trials and the report; values only, no
behaviour. The probe's own rate and port live with the probe (`bench.datagrams`).
"""

from lab.demo import CLIENT
from speaker.program import parse_args as speaker_defaults

SERVICE = "bench/failover"
FAILOVER_TIMEOUT = 20.0
SETTLE_TIMEOUT = 60.0
SETTLE_HOLD = 1.0
READY_TIMEOUT = 20.0
JITTER_SEED = 4  # the same fault moments on every run
EXIT_TIMEOUT = 15.0  # a signalled speaker must be gone by then
SLOW_SWITCH = 0.05  # announced → first datagram longer than this: show the ARP seen
LINK_DOWN = 2.0  # seconds the switch port stays down
FLAP_WATCH = 2.0  # seconds watched after settling back, for flapping
SAMPLE_EVERY, SAMPLE_WINDOW = 0.1, 0.08  # property 3's sample Observer
COLD_EVERY, COLD_WINDOW = 0.05, 0.04  # property 4b's sample Observer
DENSE_EVERY = 0.01  # property 4a's dense Observer
COLD_PAUSE = 0.5  # seconds between killing every speaker and starting them all
LEASE_WINDOW, LEASE_WINDOW_QUICK = 60.0, 30.0
OLD_RENEW = 1.0  # the Lease renewal period before issue 8 (the property 8 baseline)
CLIENT_IP = CLIENT[0].split("/")[0]
DEFAULTS = speaker_defaults(["--node-name", "bench"])
HB_INTERVAL, HB_HOLD = float(DEFAULTS.heartbeat_interval), float(DEFAULTS.heartbeat_hold)
