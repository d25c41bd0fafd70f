"""Who is asking, and may they: bearer-token authentication and RBAC authorization.

The emulated server authenticates every request (an admin token for kubectl and the tests, and
ServiceAccount tokens minted by the TokenRequest API, as `kubectl create token` asks for them)
and authorizes it against the Roles, ClusterRoles and bindings stored in the cluster, so that
the programs run with exactly the rights deploy/ grants them and no more.
"""
