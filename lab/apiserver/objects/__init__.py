"""The emulated cluster's state and its write rules: the store, resource types, per-kind admission.

Every create, update, patch and delete goes through `cluster.Cluster`; refusals are `ApiError`s
worded as kube-apiserver's (`errors`).
"""
