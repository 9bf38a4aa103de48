"""An emulator of the Azimuth portal API, for tests and demos.

It follows ``azimuth-cloud/azimuth`` at commit ``451daa04cf1803ff70456ce0bc12a34f532aed88``
(2026-08-05, ``0.21.1-14-g451daa04``): the URL layout of ``api/azimuth_site/urls.py``,
``api/azimuth/urls.py`` and ``api/azimuth_auth/urls.py``; the field names of
``api/azimuth/serializers.py``; the status values of the DTOs and drivers; DRF's error
bodies (``{"detail", "code"}``, ``{field: [messages]}``) and the statuses the views map
provider errors to (400 bad_input, 404, 409 quota_exceeded / invalid_operation).

Authentication is the SDK's (``azimuth-sdk`` 0.2.0): ``GET /auth/authenticators/``, then
``POST /auth/appcred/token/`` with ``application_credential_id`` and
``application_credential_secret`` answers ``201 {"token", ...}``; every API call carries
``Authorization: Bearer <token>``; an expired or unknown token gets ``401 {"detail": "Your
session has expired."}`` (``WWW-Authenticate: Token``), no token ``401 "Authentication
credentials were not provided."``.

Served: ``/_status/``, ``/api/``, ``session/``, ``tenancies/`` and, per tenancy,
``capabilities/``, ``quotas/`` (cpus, ram, machines from what exists; enforced: a machine
or cluster that does not fit gets ``409 quota_exceeded``), ``images/``, ``sizes/``,
``machines/`` (create 201, delete, ``logs/``), ``kubernetes_app_templates/``,
``kubernetes_apps/`` (Pending -> Installing -> Deployed, delete -> Uninstalling -> gone),
``cluster_types/``, ``clusters/`` (CONFIGURING -> READY, DELETING; ``schedule.end_time``
required when scheduling is on, the cluster deleted at that time, as
azimuth-schedule-operator does) and the ``services/<name>/`` redirects of apps and
clusters (``redirect_to_signin`` + ``redirect_to_zenith_service``).

Machines **really run** their cloud-init user data: a ``#!`` script runs as a local process
once the machine leaves BUILD; its output is the console log (``logs/``); a ``poweroff``
in the script leaves the machine ``SHUTOFF`` / ``Shut down``.

Knowingly simpler than the real portal:

* ``POST machines/`` accepts an extra ``userdata`` string. Upstream's
  ``CreateMachineSerializer`` has only ``name``, ``image_id``, ``size_id`` (the OpenStack
  provider's ``create_machine`` takes ``userdata``, but the view does not pass it; DRF
  drops unknown fields). A real portal therefore needs that one-line change for batch
  machines to run their job.
* Zenith services are served by the emulator itself at ``/_zenith/<fqdn>/`` (really
  ``https://<fqdn>/`` behind Zenith's OIDC); the service redirect goes there.
* App values are not validated against the template's JSON schema; there are no
  Kubernetes clusters, volumes, external IPs, firewall rules, SSH keys, identity realms,
  ``_schedule/`` projections, or Coral credits; one authenticator (``appcred``).
* Only machines and clusters count against quotas (apps use none, as upstream).

Run it with ``python -m ivoa_broker_azimuth.emulator --port 8766``.
"""

from __future__ import annotations

from ivoa_broker.toolkit.faults import Faults

from ._app import AzimuthEmulator
from ._model import AppTemplate, ClusterType, Image, Size, Tenancy
from ._server import EmulatorServer
from ._settings import EmulatorSettings

__all__ = [
    "AppTemplate",
    "AzimuthEmulator",
    "ClusterType",
    "EmulatorServer",
    "EmulatorSettings",
    "Faults",
    "Image",
    "Size",
    "Tenancy",
]
