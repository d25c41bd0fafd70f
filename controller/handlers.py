"""kopf registrations: indexes that mirror the cluster, and event handlers that wake the worker.

Shell. Handlers are coroutines so they run in the loop the worker runs in (sync ones would run
in threads). Low-level `on.event` handlers store nothing on the objects (no finalizers, no progress
annotations on users' Services). Services are mirrored by the worker (listed before kopf
starts, then kept current by their own watch, k8s/listwatch.py, not kopf's: kopf's per-event
work was the largest cost of a burst); pools and namespaces are kopf indexes, complete before
any handler runs, and the first handler call starts the worker. So the first reconcile already
sees every pool, and every address that Services hold.
"""

import copy
from typing import Any

import kopf

from controller.worker import Reconciler, Views
from metalpool import names


def _plain(body: kopf.Body) -> dict[str, Any]:
    """A private copy: kopf's bodies are views that must not outlive the handler call."""
    return copy.deepcopy(dict(body))


def register(registry: kopf.OperatorRegistry, reconciler: Reconciler) -> None:
    """Register the controller's indexes and handlers in `registry`."""

    @kopf.index(names.GROUP, names.VERSION, names.POOL_PLURAL, registry=registry, id="pools")
    def pools(*, namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[Any, Any]:
        return {(namespace, name): _plain(body)}

    @kopf.index("", "v1", "namespaces", registry=registry, id="namespaces")
    def namespaces(*, name: str, labels: kopf.Labels, **_: Any) -> dict[Any, Any]:
        return {name: dict(labels)}

    def attach(kwargs: dict[str, Any]) -> None:
        reconciler.attach(
            Views(
                pools=kwargs["pools"],
                namespaces=kwargs["namespaces"],
            )
        )

    @kopf.on.event(names.GROUP, names.VERSION, names.POOL_PLURAL, registry=registry)
    async def pool_changed(**kwargs: Any) -> None:
        attach(kwargs)
        reconciler.touch_config()

    @kopf.on.event("", "v1", "namespaces", registry=registry)
    async def namespace_changed(**kwargs: Any) -> None:
        attach(kwargs)
        reconciler.touch_config()
