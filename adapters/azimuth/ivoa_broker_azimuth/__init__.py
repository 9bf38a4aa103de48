"""ivoa-broker adapter for Azimuth portals (azimuth-cloud/azimuth).

Batch jobs become machines that run the job from cloud-init user data and report by
callback; interactive sessions become Kubernetes apps (or CaaS clusters) whose Zenith
service URL is the session's endpoint. See ``README.md`` for configuration.
"""

from ._adapter import AzimuthAdapter
from ._config import AzimuthConfig

__all__ = ["AzimuthAdapter", "AzimuthConfig"]
