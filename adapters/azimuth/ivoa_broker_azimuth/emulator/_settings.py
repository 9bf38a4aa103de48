"""What the emulated portal offers: flavours, images, app templates, cluster types, timings."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._model import AppTemplate, ClusterType, Image, Size

__all__ = ["DEFAULT_APP_TEMPLATES", "DEFAULT_CLUSTER_TYPES", "EmulatorSettings"]

DEFAULT_SIZES: tuple[Size, ...] = (
    Size("8d2e1e4a-0001", "general.v1.tiny", 1, 2048, 20),
    Size("8d2e1e4a-0002", "general.v1.small", 2, 4096, 40),
    Size("8d2e1e4a-0003", "general.v1.medium", 4, 8192, 40),
    Size("8d2e1e4a-0004", "general.v1.large", 8, 16384, 80),
    Size(
        "8d2e1e4a-0005",
        "gpu.v1.a100",
        16,
        65536,
        100,
        additional_properties={"resources:VGPU": "1"},
    ),
)

DEFAULT_IMAGES: tuple[Image, ...] = (
    Image("4b1f9f0a-ubuntu-jammy", "Ubuntu-Jammy-22.04-20240101", size=660.5),
    Image("4b1f9f0a-rocky-9", "Rocky-9-20240101", size=1024.0),
)

DEFAULT_APP_TEMPLATES: tuple[AppTemplate, ...] = (
    AppTemplate(
        "jupyterhub",
        "JupyterHub",
        "Multi-user Jupyter notebook environment.",
        ("3.3.7", "3.3.6"),
        service="jupyterhub",
        service_label="JupyterHub",
    ),
    AppTemplate(
        "daskhub",
        "DaskHub",
        "JupyterHub with Dask Gateway.",
        ("2024.1.1",),
        service="jupyterhub",
        service_label="DaskHub",
    ),
    AppTemplate(
        "binderhub",
        "BinderHub",
        "Reproducible notebooks from Git repositories.",
        ("1.0.0",),
        service="binderhub",
        service_label="BinderHub",
    ),
)

DEFAULT_CLUSTER_TYPES: tuple[ClusterType, ...] = (
    ClusterType(
        "workstation",
        "Workstation",
        "Batteries-included workstation with a web console.",
        parameters=(
            {"name": "cluster_flavor", "label": "Workstation size", "kind": "cloud.size"},
            {
                "name": "cluster_volume_size",
                "label": "Data volume size (GB)",
                "kind": "integer",
                "required": False,
                "default": 10,
            },
        ),
        services=(("webconsole", "Web console"), ("monitoring", "Monitoring")),
        size_parameter="cluster_flavor",
    ),
    ClusterType(
        "slurm",
        "Slurm",
        "Batch cluster running the Slurm workload manager.",
        parameters=(
            {"name": "login_flavor", "label": "Login node size", "kind": "cloud.size"},
            {"name": "compute_flavor", "label": "Compute node size", "kind": "cloud.size"},
            {"name": "compute_count", "label": "Compute nodes", "kind": "integer"},
        ),
        services=(("ood", "Open OnDemand"), ("monitoring", "Monitoring")),
        size_parameter="compute_flavor",
    ),
)


@dataclass(frozen=True)
class EmulatorSettings:
    """The emulated site. Delays are in seconds."""

    sizes: tuple[Size, ...] = DEFAULT_SIZES
    images: tuple[Image, ...] = DEFAULT_IMAGES
    app_templates: tuple[AppTemplate, ...] = DEFAULT_APP_TEMPLATES
    cluster_types: tuple[ClusterType, ...] = DEFAULT_CLUSTER_TYPES
    #: how long a new machine stays BUILD before it boots and runs its user data
    boot_delay: float = 0.05
    #: how long an app or cluster takes to become Deployed / READY (per step)
    start_delay: float = 0.05
    #: how long a deleted resource stays listed (task Deleting / Uninstalling / DELETING)
    terminate_delay: float = 0.05
    #: ``SCHEDULING.ENABLED``: clusters need ``schedule.end_time`` and are deleted then
    scheduling: bool = True
    #: ``SCHEDULING.MAX_PLATFORM_DURATION_HOURS`` (None = no limit)
    max_platform_duration_hours: float | None = 168.0
    #: lifetime of a token from ``/auth/<authenticator>/token/`` (Keystone: hours)
    token_ttl_seconds: float = 3600.0
    #: appcreds known from the start: id -> (secret, username, tenancy name)
    appcreds: dict[str, tuple[str, str, str]] = field(
        default_factory=lambda: {"demo-cred": ("demo-secret", "demo", "demo")}
    )
