"""Offline schema checks for the manifests under deploy/.

Built-in kinds are checked against the Kubernetes OpenAPI schemas bundled with
kubernetes-validate (strict: unknown fields are errors, as `kubectl apply` reports them).
metallb.io kinds are checked against the openAPIV3Schema of our own CRDs in deploy/crds,
turned into a JSON Schema: `x-kubernetes-*` keys are dropped (jsonschema cannot run CEL) and
objects that list their properties reject unknown ones, as strict field validation would.
A violation is a string "<field path>: <JSON Schema keyword>", so tests compare whole lists.
"""

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]  # ships no type information
import yaml

from metalpool import names

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CRDS = DEPLOY / "crds"
EXAMPLES = DEPLOY / "examples"

# The kubectl shipped with MicroK8s at the time of writing; kubernetes-validate picks the
# newest bundled schema not newer than this.
KUBERNETES_VERSION = "1.32"

Manifest = dict[str, Any]


def relative(path: Path) -> str:
    """Name a file under deploy/ the way a person would type it."""
    return str(path.relative_to(DEPLOY.parent))


def manifest_files() -> list[Path]:
    """Every YAML file under deploy/, in a stable order."""
    return sorted([*DEPLOY.rglob("*.yaml"), *DEPLOY.rglob("*.yml")])


def load_manifests(path: Path) -> list[Manifest]:
    """The non-empty documents of a YAML file."""
    documents = yaml.safe_load_all(path.read_text(encoding="utf-8"))
    return [document for document in documents if document is not None]


def load_text(text: str) -> Manifest:
    """One manifest written inline in a test."""
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def api_group(manifest: Manifest) -> str:
    """The API group of a manifest ("" for the core group)."""
    api_version = str(manifest.get("apiVersion", ""))
    return api_version.rpartition("/")[0]


def describe(manifest: Manifest) -> str:
    """Kind/name of a manifest, for messages."""
    name = manifest.get("metadata", {}).get("name", "<no name>")
    return f"{manifest.get('kind', '<no kind>')}/{name}"


def is_kustomization(manifest: Manifest) -> bool:
    """Kustomize's own files are not objects sent to the API server."""
    return api_group(manifest) == "kustomize.config.k8s.io"


def is_builtin(manifest: Manifest) -> bool:
    """Kinds Kubernetes itself serves (core, apps, *.k8s.io, ...), which must have a schema."""
    group = api_group(manifest)
    return "." not in group or group.endswith(".k8s.io")


def kubernetes_violations(manifest: Manifest) -> list[str]:
    """Violations of the Kubernetes OpenAPI schema for a built-in kind (the first found)."""
    try:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        return [f"{_dotted(error.absolute_path)}: {error.validator} ({error.message})"]
    except kubernetes_validate.SchemaNotFoundError as error:
        return [f"no Kubernetes schema: {error.message}"]
    return []


def crd_definitions() -> dict[str, Manifest]:
    """Our CustomResourceDefinitions by kind."""
    return {
        manifest["spec"]["names"]["kind"]: manifest
        for path in sorted(CRDS.glob("*.yaml"))
        for manifest in load_manifests(path)
        if manifest.get("kind") == "CustomResourceDefinition"
    }


def served_schema(crd: Manifest, version: str = names.VERSION) -> Manifest:
    """The openAPIV3Schema of one version of a CRD."""
    (served,) = [entry for entry in crd["spec"]["versions"] if entry["name"] == version]
    schema: Manifest = served["schema"]["openAPIV3Schema"]
    return schema


def crd_violations(manifest: Manifest) -> list[str]:
    """Violations of our CRD's schema by a metallb.io object, sorted."""
    crds = crd_definitions()
    kind = manifest.get("kind")
    api_version = f"{names.GROUP}/{names.VERSION}"
    if kind not in crds or manifest.get("apiVersion") != api_version:
        return [f"no {api_version} CRD for {manifest.get('apiVersion')} {kind}"]
    validator = jsonschema.Draft4Validator(as_json_schema(served_schema(crds[kind])))
    return sorted(
        f"{_dotted(error.absolute_path)}: {error.validator}"
        for error in validator.iter_errors(manifest)
    )


def as_json_schema(node: Manifest) -> Manifest:
    """Turn a structural CRD schema into a JSON Schema that rejects unknown fields."""
    converted: Manifest = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            converted[key] = {name: as_json_schema(child) for name, child in value.items()}
        elif key in {"items", "additionalProperties", "not"} and isinstance(value, dict):
            converted[key] = as_json_schema(value)
        elif key in {"allOf", "anyOf", "oneOf"}:
            converted[key] = [as_json_schema(child) for child in value]
        else:
            converted[key] = value
    keeps_unknown = node.get("x-kubernetes-preserve-unknown-fields", False)
    if "properties" in node and "additionalProperties" not in node and not keeps_unknown:
        converted["additionalProperties"] = False
    return converted


def schema_nodes(node: Manifest, path: str = "") -> Iterator[tuple[str, Manifest]]:
    """Every schema node of a structural schema with its field path ("[]" for items)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from schema_nodes(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from schema_nodes(node["additionalProperties"], f"{path}{{}}")


def _dotted(path: Iterable[str | int]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text.lstrip(".") or "<root>"
