"""What the emulated portal holds, and its JSON as Azimuth's serializers write it.

Field names and nesting follow ``api/azimuth/serializers.py`` (``make_dto_serializer`` of
the DTOs in ``provider/dto.py``, ``apps/dto.py``, ``cluster_engine/dto.py``): refs are
``{"id", "links": {"self"}}``; enum fields are their names (``"ACTIVE"``, ``"READY"``);
datetimes ISO 8601 with an offset, as DRF renders them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "AppTemplate",
    "ClusterType",
    "EmulatedApp",
    "EmulatedCluster",
    "EmulatedMachine",
    "Image",
    "Links",
    "Size",
    "Tenancy",
    "iso",
    "now",
]


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """DRF's DateTimeField rendering (``2026-01-01T12:00:00.123456Z``)."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class Size:
    """A flavour (``provider.dto.Size``): ``ram`` in MB, ``disk`` in GB."""

    id: str
    name: str
    cpus: int
    ram: int
    disk: int = 20
    ephemeral_disk: int = 0
    description: str | None = None
    #: Nova extra specs, e.g. ``{"resources:VGPU": "1"}`` or ``{"pci_passthrough:alias": "a100:2"}``
    additional_properties: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Image:
    """A Glance image (``provider.dto.Image``): ``size`` in MB."""

    id: str
    name: str
    is_public: bool = True
    size: float = 512.0
    nat_allowed: bool = True


@dataclass(frozen=True)
class AppTemplate:
    """A Kubernetes app template (``apps.dto.AppTemplate``) and the Zenith service its
    apps expose once deployed."""

    id: str
    label: str
    description: str
    versions: tuple[str, ...]
    service: str
    service_label: str
    logo: str = ""
    values_schema: dict[str, Any] = field(default_factory=lambda: {"type": "object"})


@dataclass(frozen=True)
class ClusterType:
    """A CaaS cluster type (``cluster_engine.dto.ClusterType``). ``size_parameter`` is the
    parameter of kind ``cloud.size`` whose flavour the cluster's quota use comes from."""

    name: str
    label: str
    description: str
    parameters: tuple[dict[str, Any], ...]
    services: tuple[tuple[str, str], ...]
    size_parameter: str | None = None
    version: str = "1"


@dataclass
class Tenancy:
    """A tenancy (OpenStack project) with its quotas (``-1`` = unlimited) and contents."""

    id: str
    name: str
    quota_cpus: int = 64
    quota_ram: int = 262144
    quota_machines: int = 20
    quota_external_ips: int = 2
    quota_volumes: int = 10
    quota_storage: int = 1000
    machines: dict[str, EmulatedMachine] = field(default_factory=dict)
    apps: dict[str, EmulatedApp] = field(default_factory=dict)
    clusters: dict[str, EmulatedCluster] = field(default_factory=dict)


@dataclass
class EmulatedMachine:
    """A machine (``provider.dto.Machine``). ``status`` is Nova's (BUILD, ACTIVE, SHUTOFF,
    ERROR); ``status_type`` the DTO's type (BUILD, ACTIVE, ERROR, OTHER)."""

    id: str
    name: str
    image_id: str
    size: Size
    owner: str
    userdata: str | None
    internal_ip: str
    status: str = "BUILD"
    power_state: str = "Unknown"
    task: str | None = "Spawning"
    fault: str | None = None
    created: datetime = field(default_factory=now)
    console: list[str] = field(default_factory=list)
    process: asyncio.subprocess.Process | None = None
    workdir: str | None = None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def status_type(self) -> str:
        return self.status if self.status in ("BUILD", "ACTIVE", "ERROR") else "OTHER"


@dataclass
class EmulatedApp:
    """A Kubernetes app (``apps.dto.App``): phases Pending, Installing, Deployed,
    Failed, Uninstalling (the azimuth-apps-operator's)."""

    id: str
    template: AppTemplate
    version: str
    values: dict[str, Any]
    username: str
    user_id: str
    kubernetes_cluster: str | None = None
    status: str = "Pending"
    failure_message: str | None = None
    fqdn: str | None = None
    created_at: datetime = field(default_factory=now)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


@dataclass
class EmulatedCluster:
    """A CaaS cluster (``cluster_engine.dto.Cluster``): CONFIGURING, READY, DELETING, ERROR."""

    id: str
    name: str
    cluster_type: ClusterType
    parameter_values: dict[str, Any]
    username: str
    user_id: str
    size: Size | None
    end_time: datetime | None = None
    status: str = "CONFIGURING"
    task: str | None = "Creating cluster"
    error_message: str | None = None
    fqdns: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=now)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)


class Links:
    """Builds the absolute URLs Azimuth's serializers put in ``links`` and ``url``."""

    def __init__(self, base: str, tenant: str) -> None:
        self.base = base.rstrip("/")
        self.tenant = tenant

    def api(self, *parts: str) -> str:
        tail = "".join(f"{p}/" for p in parts)
        return f"{self.base}/api/tenancies/{self.tenant}/{tail}"

    def ref(self, kind: str, ident: str | None) -> dict[str, Any] | None:
        if not ident:
            return None
        return {"id": ident, "links": {"self": self.api(kind, ident)}}

    # ------------------------------------------------------------ serializers

    def tenancy(self, tenancy: Tenancy) -> dict[str, Any]:
        kinds = (
            "capabilities",
            "quotas",
            "identity_provider",
            "images",
            "sizes",
            "volumes",
            "external_ips",
            "machines",
            "kubernetes_cluster_templates",
            "kubernetes_clusters",
            "kubernetes_app_templates",
            "kubernetes_apps",
            "cluster_types",
            "clusters",
        )
        return {
            "id": tenancy.id,
            "name": tenancy.name,
            "links": {k: self.api(k) for k in kinds},
        }

    def image(self, image: Image) -> dict[str, Any]:
        return {
            "id": image.id,
            "links": {"self": self.api("images", image.id)},
            "name": image.name,
            "is_public": image.is_public,
            "size": image.size,
            "nat_allowed": image.nat_allowed,
        }

    def size(self, size: Size, sort_idx: int = 0) -> dict[str, Any]:
        return {
            "id": size.id,
            "links": {"self": self.api("sizes", size.id)},
            "name": size.name,
            "description": size.description,
            "cpus": size.cpus,
            "ram": size.ram,
            "disk": size.disk,
            "ephemeral_disk": size.ephemeral_disk,
            "additional_properties": dict(size.additional_properties),
            "sort_idx": sort_idx,
        }

    def machine(self, m: EmulatedMachine) -> dict[str, Any]:
        links = {"self": self.api("machines", m.id)}
        links.update(
            {k: self.api("machines", m.id, k) for k in ("logs", "start", "stop", "restart")}
        )
        links["firewall_rules"] = self.api("machines", m.id, "firewall_rules")
        return {
            "id": m.id,
            "links": links,
            "name": m.name,
            "status": {"type": m.status_type, "name": m.status, "details": m.fault},
            "power_state": m.power_state,
            "task": m.task,
            "internal_ip": m.internal_ip,
            "external_ip": None,
            "owner": m.owner,
            "created": iso(m.created),
            "image": self.ref("images", m.image_id),
            "size": self.ref("sizes", m.size.id),
            "attached_volumes": [],
            "nat_allowed": True,
        }

    def app_template(self, t: AppTemplate) -> dict[str, Any]:
        return {
            "id": t.id,
            "links": {"self": self.api("kubernetes_app_templates", t.id)},
            "label": t.label,
            "logo": t.logo,
            "description": t.description,
            "versions": [
                {"name": v, "values_schema": t.values_schema, "ui_schema": {}} for v in t.versions
            ],
        }

    def app(self, a: EmulatedApp) -> dict[str, Any]:
        services = []
        if a.fqdn:
            services.append(
                {
                    "name": a.template.service,
                    "label": a.template.service_label,
                    "fqdn": a.fqdn,
                    "icon_url": None,
                    "url": self.api("kubernetes_apps", a.id, "services", a.template.service),
                }
            )
        return {
            "id": a.id,
            "name": a.id,
            "version": a.version,
            "values": a.values,
            "status": a.status,
            "usage": None,
            "failure_message": a.failure_message,
            "created_at": iso(a.created_at),
            "created_by_username": a.username,
            "created_by_user_id": a.user_id,
            "updated_by_username": None,
            "updated_by_user_id": None,
            "template": self.ref("kubernetes_app_templates", a.template.id),
            "kubernetes_cluster": self.ref("kubernetes_clusters", a.kubernetes_cluster),
            "services": services,
            "links": {"self": self.api("kubernetes_apps", a.id)},
        }

    def cluster_type(self, ct: ClusterType) -> dict[str, Any]:
        parameters = [
            {
                "name": p["name"],
                "label": p.get("label", p["name"]),
                "description": p.get("description"),
                "kind": p["kind"],
                "options": p.get("options", {}),
                "immutable": p.get("immutable", False),
                "required": p.get("required", True),
                "default": p.get("default"),
                "hidden": p.get("hidden", False),
            }
            for p in ct.parameters
        ]
        return {
            "name": ct.name,
            "label": ct.label,
            "description": ct.description,
            "logo": None,
            "requires_ssh_key": False,
            "usage_template": None,
            "version": ct.version,
            "parameters": parameters,
            "links": {"self": self.api("cluster_types", ct.name)},
        }

    def cluster(self, c: EmulatedCluster) -> dict[str, Any]:
        services = [
            {
                "name": name,
                "label": label,
                "icon_url": None,
                "fqdn": c.fqdns[name],
                "subdomain": c.fqdns[name].split(".", 1)[0],
                "url": self.api("clusters", c.id, "services", name),
            }
            for name, label in c.cluster_type.services
            if name in c.fqdns
        ]
        return {
            "id": c.id,
            "name": c.name,
            "cluster_type": c.cluster_type.name,
            "cluster_type_version": c.cluster_type.version,
            "task": c.task,
            "error_message": c.error_message,
            "parameter_values": c.parameter_values,
            "tags": [],
            "outputs": {},
            "created": iso(c.created),
            "updated": iso(c.created),
            "patched": iso(c.created),
            "created_by_username": c.username,
            "created_by_user_id": c.user_id,
            "updated_by_username": None,
            "updated_by_user_id": None,
            "status": c.status,
            "services": services,
            "schedule": {"end_time": iso(c.end_time)} if c.end_time else None,
            "links": {
                "self": self.api("clusters", c.id),
                "patch": self.api("clusters", c.id, "patch"),
            },
        }
