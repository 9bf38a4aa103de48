"""How BinderHub names what it launches on its JupyterHub, and how to recognise it.

BinderHub (jupyterhub/binderhub at commit ``b9fad995d5529e487c25a9f0795f4fe150a96f25``)
names every launch with ``Launcher.unique_name_from_repo`` (``binderhub/launcher.py``
lines 143-169): the repository URL's path (the part after ``:`` of an ``user@host:path``
ssh URL), ``/`` replaced by ``-``, lower-cased, a trailing ``.git`` dropped, cut to
``<first 15>-<last 15>`` when longer than 32 characters, then ``-`` and 8 random
characters of ``[a-z0-9]`` (lines 30-34). ``BuildHandler.launch`` (``binderhub/builder.py``
lines 715-727) gives that name to the *user* when authentication is off (a temporary
user, its default server ``""``: mybinder.org), and to a *named server* of the signed-in
user when authentication and named servers are on (else the user's default server).

The launch's ``user_options`` (``launcher.py`` lines 244-252 and ``builder.py`` lines
739-745) are ``image``, ``repo_url``, ``token`` and ``binder_ref_url``,
``binder_launch_host``, ``binder_request`` (``v2/<provider>/<spec>``),
``binder_persistent_request``, ``binder_client_ip``. Nothing of the build request but
the provider and spec reaches them, so no job id can ride along: the adapter tags its
sessions on the hub itself (:mod:`._tags`).
"""

from __future__ import annotations

import random
import re
import string
from urllib.parse import urlparse

from ivoa_broker_jupyterhub.client import ServerInfo

__all__ = [
    "SUFFIX_CHARS",
    "SUFFIX_LENGTH",
    "anonymous",
    "launch_name",
    "launched_by_binderhub",
    "name_prefix",
    "unique_name",
]

#: launcher.py lines 30-34
SUFFIX_CHARS = string.ascii_lowercase + string.digits
SUFFIX_LENGTH = 8
_SSH_REPO = re.compile(r".*@.*\:")  # launcher.py line 28


def name_prefix(repo_url: str) -> str:
    """``unique_name_from_repo`` without its random suffix (launcher.py lines 149-164)."""
    if "://" not in repo_url and _SSH_REPO.match(repo_url):
        path = repo_url.split(":", 1)[1]
    else:
        path = urlparse(repo_url).path
    prefix = path.strip("/").replace("/", "-").lower()
    if prefix.endswith(".git"):
        prefix = prefix[:-4]
    if len(prefix) > 32:
        prefix = f"{prefix[:15]}-{prefix[-15:]}"
    return prefix


def unique_name(repo_url: str) -> str:
    """``Launcher.unique_name_from_repo``: the prefix, ``-`` and 8 random characters."""
    return f"{name_prefix(repo_url)}-{''.join(random.choices(SUFFIX_CHARS, k=SUFFIX_LENGTH))}"


def _is_unique_name(name: str, repo_url: str) -> bool:
    prefix, dash, suffix = name.rpartition("-")
    return (
        bool(dash)
        and prefix == name_prefix(repo_url)
        and len(suffix) == SUFFIX_LENGTH
        and all(c in SUFFIX_CHARS for c in suffix)
    )


def launch_name(server: ServerInfo) -> str | None:
    """The name BinderHub gave ``server`` (its user's or its own), None if BinderHub did
    not launch it: ``binder_request``/``repo_url`` in its user_options and the name made
    from that ``repo_url``."""
    options = server.user_options
    repo, request = options.get("repo_url"), options.get("binder_request")
    if not (isinstance(repo, str) and isinstance(request, str) and request.startswith("v2/")):
        return None
    name = server.name or server.user  # a named server, else a temporary user's default
    return name if _is_unique_name(name, repo) else None


def launched_by_binderhub(server: ServerInfo) -> bool:
    return launch_name(server) is not None


def anonymous(server: ServerInfo) -> bool:
    """A temporary user's server (authentication off): the user exists for it alone."""
    return server.name == "" and launched_by_binderhub(server)
