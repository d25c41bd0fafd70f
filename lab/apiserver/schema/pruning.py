"""Pruning: fields a schema does not declare are dropped silently, as the CR decoder does.

Pure; mutates the object it is given (the caller owns a fresh copy). Follows
apiextensions-apiserver pkg/apiserver/schema/pruning/algorithm.go: the root and every
x-kubernetes-embedded-resource keep apiVersion/kind/metadata, x-kubernetes-preserve-unknown-fields
keeps unknown keys (but still prunes inside known ones). `metadata` goes through
objectmeta/coerce.go's round trip through metav1.ObjectMeta instead: keys ObjectMeta does not
have are dropped, and so are empty ones (its JSON tags are all omitempty).
"""

from typing import Any

from lab.apiserver.schema.structural import Schema

TYPE_AND_OBJECT_META = frozenset({"apiVersion", "kind", "metadata"})
OBJECT_META_FIELDS = frozenset(
    {
        "name",
        "generateName",
        "namespace",
        "selfLink",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "labels",
        "annotations",
        "ownerReferences",
        "finalizers",
        "managedFields",
    }
)


def coerce_metadata(metadata: Any) -> Any:
    """ObjectMeta's view of `metadata`: only its own fields, none of them empty."""
    if not isinstance(metadata, dict):
        return metadata
    for key in list(metadata):
        if key not in OBJECT_META_FIELDS or metadata[key] in (None, "", {}, []):
            del metadata[key]
    return metadata


def _prune(value: Any, schema: Schema | None, *, embedded: bool = False) -> None:
    if schema is not None and schema.preserve_unknown:
        _keep_unknown(value, schema)
        return
    if isinstance(value, dict):
        if schema is None:
            value.clear()
            return
        for key in list(value):
            if (embedded or schema.embedded) and key in TYPE_AND_OBJECT_META:
                if key == "metadata":
                    coerce_metadata(value[key])
                continue
            sub = schema.properties.get(key)
            if sub is not None:
                _prune(value[key], sub)
            elif schema.additional is not None or schema.additional_allowed:
                _prune(value[key], schema.additional)
            else:
                del value[key]
    elif isinstance(value, list):
        for item in value:
            _prune(item, schema.items if schema is not None else None)


def _keep_unknown(value: Any, schema: Schema, *, embedded: bool = False) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if (embedded or schema.embedded) and key in TYPE_AND_OBJECT_META:
                if key == "metadata":
                    coerce_metadata(item)
                continue
            sub = schema.properties.get(key) or schema.additional
            if sub is not None:
                _prune(item, sub)
    elif isinstance(value, list) and schema.items is not None:
        for item in value:
            _keep_unknown(item, schema.items)


def prune_root(obj: dict[str, Any], schema: Schema) -> None:
    """Prune the root, which keeps its type and object metadata even under preserve-unknown."""
    if schema.preserve_unknown:
        _keep_unknown(obj, schema, embedded=True)
    else:
        _prune(obj, schema, embedded=True)
