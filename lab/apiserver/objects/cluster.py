"""The API's write rules: every create, update, patch and delete goes through `Cluster`.

It owns the registry, the store and the Service IP range, and applies what the real apiserver
applies on write: server-owned metadata (uid, creationTimestamp, resourceVersion, generation),
optimistic concurrency (409 on a stale resourceVersion), the status subresource split, finalizers
and deletionTimestamp, namespaces that must exist, and the kind-specific admission in `kinds.py`.
No-op writes keep the resourceVersion and emit no event. The HTTP layer parses requests into
calls here; nothing in this module knows about HTTP beyond raising `ApiError`.
"""

import logging
import secrets
import uuid
from typing import Any

from lab.apiserver.http.discovery import Registry
from lab.apiserver.objects import kinds, listing
from lab.apiserver.objects.bodies import checked_body, spec_of, split_status, version_of
from lab.apiserver.objects.clock import now
from lab.apiserver.objects.errors import ApiError, already_exists, conflict, invalid, not_found
from lab.apiserver.objects.patches import (
    PatchError,
    PatchTestFailedError,
    copy_json,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from lab.apiserver.objects.resources import NAMESPACE_STORAGE, ResourceType
from lab.apiserver.objects.selectors import FieldSelector, LabelSelector
from lab.apiserver.objects.services import DualStackIPs
from lab.apiserver.objects.store import DEFAULT_HISTORY, Object, Store

logger = logging.getLogger(__name__)

SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SERVER_METADATA = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")
PATCH_TYPES = {
    "application/json-patch+json": "json",
    "application/merge-patch+json": "merge",
    "application/strategic-merge-patch+json": "strategic",
    "application/apply-patch+yaml": "apply",
    "application/apply-patch+cbor": "unsupported",
}
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


# Built-in kinds whose strategy says AllowUnconditionalUpdate() false, so that a PUT without a
# resourceVersion is refused like a custom resource's (generic registry Store.Update). Lease:
# pkg/registry/coordination/lease/strategy.go ("the default update policy for Lease objects").
CONDITIONAL_UPDATES_ONLY = frozenset({"coordination.k8s.io/leases"})


class Cluster:
    """The state of the emulated cluster and the rules for changing it."""

    def __init__(self, *, history: int = DEFAULT_HISTORY) -> None:
        self.registry = Registry()
        self.store = Store(history=history)
        self.cluster_ips = DualStackIPs()
        namespaces = self.registry.lookup("", "v1", "namespaces")
        assert namespaces is not None  # noqa: S101 -- the built-in table always has it
        for name in SYSTEM_NAMESPACES:
            self.create(namespaces, "", {"metadata": {"name": name}})

    # ------------------------------------------------------------ reads

    def get(self, rt: ResourceType, namespace: str, name: str) -> Object:
        """The object, or 404."""
        found = self.store.get(rt.storage, namespace, name)
        if found is None:
            raise not_found(rt.plural, rt.group, name)
        return found

    def list(
        self,
        rt: ResourceType,
        namespace: str | None,
        labels: LabelSelector,
        fields: FieldSelector,
        *,
        limit: int = 0,
        token: str = "",
    ) -> tuple[list[Object], str, str]:
        """Matching objects by namespace/name, the list's resourceVersion and a continue token."""
        self.check_fields(rt, fields)
        name = fields.exact_name()
        if name is not None and namespace is not None:
            single = self.store.get(rt.storage, namespace, name)
            candidates = [single] if single is not None else []
        else:
            candidates = list(self.store.iterate(rt.storage, namespace))
        matching = [o for o in candidates if labels.matches(o) and fields.matches(o)]
        return listing.page(
            matching, limit=limit, token=token, current_version=self.store.resource_version
        )

    def check_fields(self, rt: ResourceType, fields: FieldSelector) -> None:
        """400 for a field selector on a field this resource does not index, as the real one."""
        unsupported = fields.fields() - rt.selectable_fields
        if unsupported:
            raise ApiError(400, f"field label not supported: {sorted(unsupported)[0]}")

    # ------------------------------------------------------------ writes

    def create(
        self, rt: ResourceType, namespace: str, body: Any, *, dry_run: bool = False
    ) -> Object:
        """POST: a new object with server-owned metadata; 409 if the name is taken."""
        obj = checked_body(rt, namespace, body)
        kinds.decode(rt, obj)
        metadata = obj["metadata"]
        if not metadata.get("name"):
            prefix = metadata.get("generateName")
            if not prefix:
                raise invalid(rt.kind, rt.group, "", "metadata.name: Required value")
            metadata["name"] = self._generated_name(rt, namespace, prefix)
        name = metadata["name"]
        if rt.namespaced:
            self._check_namespace_open(namespace)
        if self.store.get(rt.storage, namespace, name) is not None:
            raise already_exists(rt.plural, rt.group, name)
        for key in ("resourceVersion", "managedFields", *SERVER_METADATA):
            metadata.pop(key, None)
        metadata.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        if not metadata.get("finalizers"):
            metadata.pop("finalizers", None)
        if rt.has_status and rt.status_reset_on_create:
            obj.pop("status", None)
        kinds.admit(self, rt, obj, None)
        if dry_run:
            return obj
        metadata["resourceVersion"] = str(self.store.next_version())
        self.store.put(rt.storage, obj, None)
        kinds.committed(self, rt, obj)
        return obj

    def replace(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        body: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
    ) -> Object:
        """PUT: the whole object; its resourceVersion, when given, must be current."""
        old = self.get(rt, namespace, name)
        new = checked_body(rt, namespace, body)
        if new["metadata"].get("name") != name:
            raise ApiError(
                400,
                f"the name of the object ({new['metadata'].get('name')}) does not match "
                f"the name on the URL ({name})",
            )
        if not version_of(new) and (rt.custom or rt.storage in CONDITIONAL_UPDATES_ONLY):
            raise invalid(
                rt.kind,
                rt.group,
                name,
                "metadata.resourceVersion: Invalid value: 0x0: must be specified for an update",
            )
        return self._update(rt, old, new, subresource=subresource, dry_run=dry_run)

    def patch(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        content_type: str,
        patch: Any,
        *,
        subresource: str = "",
        dry_run: bool = False,
        field_manager: str = "",
    ) -> tuple[Object, bool]:
        """PATCH in any of the patch languages; returns the object and whether it was created."""
        kind = PATCH_TYPES.get(content_type)
        if kind is None or kind == "unsupported" or (kind == "strategic" and rt.custom):
            accepted = [t for t, k in PATCH_TYPES.items() if k not in ("unsupported",)]
            if rt.custom:
                accepted.remove("application/strategic-merge-patch+json")
            raise ApiError(
                415,
                f"the body of the request was in an unknown format - accepted media types "
                f"include: {', '.join(accepted)}",
            )
        if kind == "apply" and not field_manager:
            raise ApiError(400, "PatchOptions.meta.k8s.io is invalid: fieldManager: Required value")
        old = self.store.get(rt.storage, namespace, name)
        if old is None:
            if kind != "apply":
                raise not_found(rt.plural, rt.group, name)
            body = dict(patch) if isinstance(patch, dict) else {}
            body["metadata"] = {**(body.get("metadata") or {}), "name": name}
            return self.create(rt, namespace, body, dry_run=dry_run), True
        try:
            if kind == "json":
                new = json_patch(old, patch)
            elif kind == "merge" or (kind == "apply" and rt.custom):
                new = merge_patch(old, patch)
            else:
                new = strategic_merge_patch(old, patch)
        except PatchTestFailedError as error:
            raise ApiError(422, str(error)) from None
        except PatchError as error:
            raise ApiError(422, f"the server rejected our request: {error}") from None
        if not isinstance(new, dict):
            raise ApiError(422, "the patched object is not a JSON object")
        return self._update(rt, old, new, subresource=subresource, dry_run=dry_run), False

    def delete(
        self,
        rt: ResourceType,
        namespace: str,
        name: str,
        *,
        preconditions: dict[str, Any] | None = None,
        dry_run: bool = False,
    ) -> Object:
        """DELETE: gone at once, or marked with deletionTimestamp while finalizers remain."""
        old = self.get(rt, namespace, name)
        for key in ("uid", "resourceVersion"):
            wanted = (preconditions or {}).get(key)
            if wanted and wanted != old["metadata"].get(key):
                raise ApiError(
                    409,
                    f"Precondition failed: {key} in precondition: {wanted}, "
                    f"{key} in object meta: {old['metadata'].get(key)}",
                )
        if dry_run:
            return old
        if rt.storage == NAMESPACE_STORAGE:
            return self._delete_namespace(old)
        if old["metadata"].get("finalizers"):
            if old["metadata"].get("deletionTimestamp"):
                return old
            marked = copy_json(old)
            marked["metadata"].update(deletionTimestamp=now(), deletionGracePeriodSeconds=0)
            return self._commit(rt, marked, old)
        return self._remove(rt, old)

    # ------------------------------------------------------------ internals

    def purge(self, rt: ResourceType) -> None:
        """Remove every object of a resource at once (its CRD is gone), finalizers or not."""
        for obj in list(self.store.iterate(rt.storage, None)):
            self._remove(rt, obj)

    def _generated_name(self, rt: ResourceType, namespace: str, prefix: str) -> str:
        while True:
            name = prefix + "".join(secrets.choice(_NAME_ALPHABET) for _ in range(5))
            if self.store.get(rt.storage, namespace, name) is None:
                return name

    def _check_namespace_open(self, namespace: str) -> None:
        found = self.store.get(NAMESPACE_STORAGE, "", namespace)
        if found is None:
            raise not_found("namespaces", "", namespace)
        if found["metadata"].get("deletionTimestamp"):
            raise ApiError(
                403,
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
                reason="Forbidden",
            )

    def _update(
        self, rt: ResourceType, old: Object, new: Object, *, subresource: str, dry_run: bool
    ) -> Object:
        metadata = new.setdefault("metadata", {})
        if not isinstance(metadata, dict):
            raise ApiError(400, "metadata must be an object")
        kinds.decode(rt, new)
        stated = version_of(new)
        if stated and stated != version_of(old):
            raise conflict(rt.plural, rt.group, old["metadata"]["name"])
        new = split_status(rt, old, new, subresource)
        metadata = new["metadata"]
        for key in ("name", "namespace", *SERVER_METADATA):
            if key in old["metadata"]:
                metadata[key] = old["metadata"][key]
            else:
                metadata.pop(key, None)
        metadata.pop("managedFields", None)
        metadata["resourceVersion"] = version_of(old)
        new["apiVersion"], new["kind"] = old["apiVersion"], old["kind"]
        if old["metadata"].get("deletionTimestamp"):
            added = set(metadata.get("finalizers") or ()) - set(
                old["metadata"].get("finalizers") or ()
            )
            if added:
                raise ApiError(
                    422,
                    f"Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}",
                )
        kinds.admit(self, rt, new, old)
        metadata["generation"] = old["metadata"].get("generation", 1) + (
            spec_of(rt, new) != spec_of(rt, old)
        )
        if not metadata.get("finalizers"):
            metadata.pop("finalizers", None)
        if new == old or dry_run:
            return new if dry_run else old
        if metadata.get("deletionTimestamp") and not metadata.get("finalizers"):
            return self._remove(rt, new)
        return self._commit(rt, new, old)

    def _commit(self, rt: ResourceType, new: Object, old: Object) -> Object:
        new["metadata"]["resourceVersion"] = str(self.store.next_version())
        self.store.put(rt.storage, new, old)
        kinds.committed(self, rt, new)
        return new

    def _remove(self, rt: ResourceType, last: Object) -> Object:
        final = dict(last)
        final["metadata"] = {**last["metadata"], "resourceVersion": str(self.store.next_version())}
        self.store.remove(rt.storage, final)
        kinds.removed(self, rt, final)
        namespace = final["metadata"].get("namespace")
        if namespace:
            self._finish_namespace_if_empty(namespace)
        return final

    def _delete_namespace(self, old: Object) -> Object:
        name = old["metadata"]["name"]
        namespaces = self.registry.lookup("", "v1", "namespaces")
        assert namespaces is not None  # noqa: S101 -- built-in
        marked = old
        if not old["metadata"].get("deletionTimestamp"):
            marked = copy_json(old)
            marked["metadata"]["deletionTimestamp"] = now()
            marked["status"] = {"phase": "Terminating"}
            marked = self._commit(namespaces, marked, old)
        visited: set[str] = set()
        for rt in self.registry.all():
            if rt.namespaced and rt.storage not in visited:
                visited.add(rt.storage)
                for obj in list(self.store.iterate(rt.storage, name)):
                    self.delete(rt, name, obj["metadata"]["name"])
        self._finish_namespace_if_empty(name)
        return marked

    def _finish_namespace_if_empty(self, name: str) -> None:
        found = self.store.get(NAMESPACE_STORAGE, "", name)
        if found and found["metadata"].get("deletionTimestamp") and not self.store.count_in(name):
            namespaces = self.registry.lookup("", "v1", "namespaces")
            assert namespaces is not None  # noqa: S101 -- built-in
            self._remove(namespaces, found)
