"""Wire names: every string MetalPool shares with Kubernetes, MetalLB users and their tools.

Nothing else in the code base spells an API group, an annotation key or an event reason.
"""

from typing import Final

GROUP: Final = "metallb.io"
VERSION: Final = "v1beta1"
POOL_KIND: Final = "IPAddressPool"
POOL_PLURAL: Final = "ipaddresspools"
L2_KIND: Final = "L2Advertisement"
L2_PLURAL: Final = "l2advertisements"
L2_STATUS_KIND: Final = "ServiceL2Status"
L2_STATUS_PLURAL: Final = "servicel2statuses"

DEFAULT_NAMESPACE: Final = "metallb-system"

# Service annotations. MetalLB reads both prefixes; the stable one wins when both are present.
PREFIX: Final = "metallb.io/"
DEPRECATED_PREFIX: Final = "metallb.universe.tf/"
ADDRESS_POOL: Final = "address-pool"
LOAD_BALANCER_IPS: Final = "loadBalancerIPs"
ALLOW_SHARED_IP: Final = "allow-shared-ip"
ALLOCATED_FROM_POOL: Final = PREFIX + "ip-allocated-from-pool"

# Nodes carrying this label never announce (Kubernetes' own convention, honoured by MetalLB).
EXCLUDE_FROM_LB_LABEL: Final = "node.kubernetes.io/exclude-from-external-load-balancers"

# Controller event reasons (metallb-compat.md §2.5): tools grep for these exact strings.
EVENT_IP_ALLOCATED: Final = "IPAllocated"
EVENT_ALLOCATION_FAILED: Final = "AllocationFailed"
EVENT_CLEAR_ASSIGNMENT: Final = "ClearAssignment"
EVENT_LOAD_BALANCER_FAILED: Final = "LoadBalancerFailed"
EVENT_ADDITIONAL_ASSIGN_FAILED: Final = "AdditionalAssignFailed"
EVENT_DEPRECATED_ANNOTATION: Final = "deprecatedAnnotation"
EVENT_NOT_ENOUGH_CLUSTER_IPS: Final = "not enough clusterips"
EVENT_NO_CLUSTER_IPS_FAMILY: Final = "noclusterIPsIPFamily"
EVENT_NO_LB_IPS_FAMILY: Final = "nolbIPsIPFamily"
EVENT_INTERNAL_ERROR: Final = "InternalError"
EVENT_INVALID_CONFIGURATION: Final = "InvalidConfiguration"  # a pool that cannot be used

# The Secret whose key authenticates the speakers' LAN heartbeats: MetalLB's own names, so a
# Secret MetalLB left behind is used as it is.
MEMBERLIST_SECRET: Final = "memberlist"  # noqa: S105 - a Secret's name, not a password
MEMBERLIST_KEY: Final = "secretkey"
MANAGED_BY_LABEL: Final = "app.kubernetes.io/managed-by"
MANAGED_BY: Final = "metalpool"

# Knowing the LAN (docs/lan.md). The speakers say on each Service whether its addresses are
# announced, and if not, why (a condition, written by one speaker at a time). A speaker that
# finds another device holding an address also writes the facts, for the controller to act on.
ANNOUNCED_CONDITION: Final = PREFIX + "Announced"
ADDRESS_CONFLICT_ANNOTATION: Final = "metalpool.io/address-conflict"  # on a Service, by a speaker
# On an IPAddressPool, by the controller: addresses another device holds, never handed out.
# Deleting the annotation (or one of its keys) clears the quarantine.
QUARANTINE_ANNOTATION: Final = "metalpool.io/quarantine"
EVENT_ADDRESS_CONFLICT: Final = "AddressConflict"
EVENT_ADDRESS_QUARANTINED: Final = "AddressQuarantined"
EVENT_ADDRESS_CONFLICT_CLEARED: Final = "AddressConflictCleared"
EVENT_SPLIT_BRAIN: Final = "SplitBrain"
