r"""Just enough of Kubernetes' protobuf encoding to accept kubectl's imperative creates.

Pure. kubectl sends built-in objects as `application/vnd.kubernetes.protobuf` from its generators
(`kubectl create namespace|configmap|secret|serviceaccount|token`) and never falls back to JSON
on 415.
This decodes the envelope (`k8s\0` + runtime.Unknown) and the few kinds those generators make,
field numbers as in k8s.io/api generated.proto; anything else raises `ProtobufError` (→ 415).
"""

import base64
from collections.abc import Iterator
from typing import Any

MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body this decoder does not understand."""


def _varint(data: bytes, position: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if position >= len(data):
            raise ProtobufError("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, position
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited fields."""
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
            yield number, value
        elif wire == 2:  # noqa: PLR2004 -- protobuf wire type "length-delimited"
            length, position = _varint(data, position)
            yield number, data[position : position + length]
            position += length
        elif wire in (1, 5):  # fixed 64/32-bit: no field we decode uses them; skip
            position += 8 if wire == 1 else 4
        else:
            raise ProtobufError(f"unsupported wire type {wire}")


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a string field")
    return value.decode()


def _entry(value: int | bytes) -> tuple[str, bytes]:
    if not isinstance(value, bytes):
        raise ProtobufError("expected a map entry")
    parts = dict(fields(value))
    key, item = parts.get(1, b""), parts.get(2, b"")
    if not isinstance(key, bytes) or not isinstance(item, bytes):
        raise ProtobufError("malformed map entry")
    return key.decode(), item


def _metadata(data: bytes) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    names = {1: "name", 2: "generateName", 3: "namespace"}
    maps = {11: "labels", 12: "annotations"}
    for number, value in fields(data):
        if number in names:
            if text := _text(value):  # gogo-protobuf encodes empty strings too
                metadata[names[number]] = text
        elif number in maps:
            key, item = _entry(value)
            metadata.setdefault(maps[number], {})[key] = item.decode()
        elif number == 14:  # noqa: PLR2004 -- ObjectMeta.finalizers
            metadata.setdefault("finalizers", []).append(_text(value))
    return metadata


def _configmap(number: int, value: int | bytes, obj: dict[str, Any]) -> None:
    if number in (2, 3):
        key, item = _entry(value)
        if number == 2:  # noqa: PLR2004 -- ConfigMap.data
            obj.setdefault("data", {})[key] = item.decode()
        else:
            obj.setdefault("binaryData", {})[key] = base64.b64encode(item).decode()


def _secret(number: int, value: int | bytes, obj: dict[str, Any]) -> None:
    if number in (2, 4):  # data (bytes, shown base64) and stringData
        key, item = _entry(value)
        shown = base64.b64encode(item).decode() if number == 2 else item.decode()  # noqa: PLR2004
        obj.setdefault("data" if number == 2 else "stringData", {})[key] = shown  # noqa: PLR2004
    elif number == 3:  # noqa: PLR2004 -- Secret.type
        obj["type"] = _text(value)


def _namespace(number: int, value: int | bytes, obj: dict[str, Any]) -> None:
    if number == 2 and isinstance(value, bytes):  # noqa: PLR2004 -- Namespace.spec
        finalizers = [_text(v) for n, v in fields(value) if n == 1]
        obj["spec"] = {"finalizers": finalizers} if finalizers else {}


def _token_request(number: int, value: int | bytes, obj: dict[str, Any]) -> None:
    """TokenRequest (`kubectl create token`): spec's audiences and expirationSeconds.

    Numbers from k8s.io/api/authentication/v1/generated.proto: spec 2; audiences 1 (repeated),
    expirationSeconds 4.
    """
    if number == 2 and isinstance(value, bytes):  # noqa: PLR2004 -- TokenRequest.spec
        spec: dict[str, Any] = {}
        for field, item in fields(value):
            if field == 1:
                spec.setdefault("audiences", []).append(_text(item))
            elif field == 4 and isinstance(item, int):  # noqa: PLR2004 -- expirationSeconds
                spec["expirationSeconds"] = item
        obj["spec"] = spec


def _nothing(number: int, value: int | bytes, obj: dict[str, Any]) -> None:
    """ServiceAccount: the generator sets metadata only."""


KINDS = {
    ("v1", "Namespace"): _namespace,
    ("v1", "ConfigMap"): _configmap,
    ("v1", "Secret"): _secret,
    ("v1", "ServiceAccount"): _nothing,
    ("authentication.k8s.io/v1", "TokenRequest"): _token_request,
}


def decode(body: bytes) -> dict[str, Any]:
    """A protobuf-encoded object as its JSON form; ProtobufError for kinds not covered."""
    if not body.startswith(MAGIC):
        raise ProtobufError("missing the k8s protobuf envelope")
    envelope = dict(fields(body[len(MAGIC) :]))
    type_meta, raw = envelope.get(1, b""), envelope.get(2, b"")
    if not isinstance(type_meta, bytes) or not isinstance(raw, bytes):
        raise ProtobufError("malformed envelope")
    meta = {number: _text(value) for number, value in fields(type_meta)}
    api_version, kind = meta.get(1, ""), meta.get(2, "")
    decoder = KINDS.get((api_version, kind))
    if decoder is None:
        raise ProtobufError(f"protobuf bodies of {api_version} {kind} are not supported")
    obj: dict[str, Any] = {"apiVersion": api_version, "kind": kind}
    for number, value in fields(raw):
        if number == 1 and isinstance(value, bytes):
            obj["metadata"] = _metadata(value)
        else:
            decoder(number, value, obj)
    return obj
