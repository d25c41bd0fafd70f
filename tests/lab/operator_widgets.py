"""A tiny kopf operator used to prove kopf works against the emulated API server.

It finalizes Widgets (a delete handler makes kopf add its finalizer with a JSON patch guarded by a
`test` op), sets `status.phase`, posts Events, and gives LoadBalancer Services an ingress IP.
The server URL comes from LAB_APISERVER_URL; the operator runs in the test's process (KopfRunner),
so it trusts that process's lab CA, and acts as the lab's admin.
"""

import os
from typing import Any

import kopf

from lab.apiserver.auth import tls
from lab.apiserver.auth.tokens import ADMIN_TOKEN

FINALIZER = "lab.metalpool.io/finalizer"


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    settings.persistence.finalizer = FINALIZER
    settings.posting.level = 20  # INFO: kopf.info() posts Events
    settings.watching.connect_timeout = 5
    settings.networking.request_timeout = 10


@kopf.on.login()
def login(**_: Any) -> kopf.ConnectionInfo:
    return kopf.ConnectionInfo(
        server=os.environ["LAB_APISERVER_URL"],
        ca_data=tls.credentials().ca,
        scheme="Bearer",
        token=ADMIN_TOKEN,
    )


@kopf.on.resume("lab.metalpool.io", "v1", "widgets")
@kopf.on.create("lab.metalpool.io", "v1", "widgets")
def widget_created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    patch.status["phase"] = "Ready"
    kopf.info(body, reason="WidgetReady", message=f"widget {body.metadata.name} is ready")


@kopf.on.delete("lab.metalpool.io", "v1", "widgets")
def widget_deleted(body: kopf.Body, **_: Any) -> None:
    kopf.info(body, reason="WidgetGone", message=f"widget {body.metadata.name} released")


@kopf.on.create("", "v1", "services", field="spec.type", value="LoadBalancer")
def service_created(body: kopf.Body, patch: kopf.Patch, **_: Any) -> None:
    patch.status["loadBalancer"] = {"ingress": [{"ip": "192.0.2.10"}]}
    kopf.info(body, reason="IPAllocated", message="Assigned IP [192.0.2.10]")
