"""``_tags`` and ``_hub`` on a recorded JupyterHub REST API (httpx's MockTransport):
which servers count as this instance's sessions and what removing one does. The same
run for real on the hub in ``test_binderhub_orphans.py`` and ``test_binderhub_broker.py``."""

from __future__ import annotations

import json
from typing import Any

import httpx
from ivoa_broker_binderhub._hub import Hub
from ivoa_broker_binderhub._tags import SessionTags, tag_note

from ivoa_broker.protocol import Secret

REPO = "https://github.com/org/repo"
BINDER = {"repo_url": REPO, "binder_request": "v2/gh/org/repo/HEAD"}


class FakeHub:
    """Users, servers and tokens as JupyterHub's REST API answers them."""

    def __init__(self) -> None:
        self.servers: dict[str, dict[str, dict[str, Any]]] = {}
        self.tokens: dict[str, list[dict[str, Any]]] = {}
        self.calls: list[str] = []

    def server(self, user: str, name: str, options: dict[str, Any]) -> None:
        self.servers.setdefault(user, {})[name] = {
            "name": name,
            "ready": True,
            "stopped": False,
            "url": f"/user/{user}/{name}",
            "user_options": options,
        }
        self.tokens.setdefault(user, [])

    def token(self, user: str, scope: str, note: str) -> None:
        tokens = self.tokens.setdefault(user, [])
        tokens.append({"id": f"a{len(tokens)}", "scopes": [scope], "note": note})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/hub/api")
        self.calls.append(f"{request.method} {path}")
        parts = path.strip("/").split("/")
        if request.method == "GET" and path == "/users":
            items = [{"name": u, "servers": s} for u, s in self.servers.items()]
            return httpx.Response(200, json={"items": items, "_pagination": {"next": None}})
        user = parts[1]
        if user not in self.servers:
            return httpx.Response(404, json={"message": "no such user"})
        if len(parts) == 2 and request.method == "DELETE":
            del self.servers[user], self.tokens[user]
            return httpx.Response(204)
        if parts[2:] == ["tokens"] and request.method == "GET":
            return httpx.Response(200, json={"api_tokens": self.tokens[user]})
        if parts[2:] == ["tokens"] and request.method == "POST":
            body = json.loads(request.content)
            self.token(user, body["scopes"][0], body["note"])
            return httpx.Response(201, json={"id": "new", "token": "secret"})
        if parts[2] == "tokens" and request.method == "DELETE":
            self.tokens[user] = [t for t in self.tokens[user] if t["id"] != parts[3]]
            return httpx.Response(204)
        if parts[2] == "servers" and request.method == "DELETE":
            name = parts[3] if len(parts) > 3 else ""
            if json.loads(request.content).get("remove"):
                if not name:
                    return httpx.Response(400, json={"message": "Cannot delete the default server"})
                self.servers[user].pop(name, None)
            else:
                self.servers[user][name]["stopped"] = True
            return httpx.Response(204)
        raise AssertionError(f"unexpected {request.method} {path}")


def _hub(fake: FakeHub) -> Hub:
    return Hub("http://hub.test", Secret("t"), transport=httpx.MockTransport(fake))


def _world() -> FakeHub:
    fake = FakeHub()
    fake.server("org-repo-abcd1234", "", BINDER)  # ours: a temporary user
    fake.token("org-repo-abcd1234", "read:servers!server=org-repo-abcd1234/", tag_note("b", "j1"))
    fake.server("alice", "org-repo-efgh5678", BINDER)  # ours: a named server
    fake.server("alice", "lab", {})  # alice's own, untagged
    fake.token("alice", "read:servers!server=alice/org-repo-efgh5678", tag_note("b", "j2"))
    fake.token("alice", "access:servers!server=alice/org-repo-efgh5678", "binder")
    fake.token("alice", "access:servers!server=alice/lab", "alice's")
    fake.server("org-repo-ijkl9012", "", BINDER)  # another broker's
    fake.token("org-repo-ijkl9012", "read:servers!server=org-repo-ijkl9012/", tag_note("c", "j3"))
    fake.server("org-repo-mnop3456", "", BINDER)  # a browser's launch: no tag
    fake.server("bob", "x", BINDER)  # tagged, but not a name BinderHub gives
    fake.token("bob", "read:servers!server=bob/x", tag_note("b", "j4"))
    return fake


async def test_ours_are_binderhub_servers_with_this_instances_tag() -> None:
    fake = _world()
    async with _hub(fake) as hub:
        found = {
            (t.job_id, t.server.user, t.server.name) for t in await SessionTags(hub, "b").ours()
        }
    assert found == {("j1", "org-repo-abcd1234", ""), ("j2", "alice", "org-repo-efgh5678")}
    # tokens are read only of users with a BinderHub server
    assert "GET /users/bob/tokens" not in fake.calls


async def test_claimed_elsewhere() -> None:
    fake = _world()
    async with _hub(fake) as hub:
        tags = SessionTags(hub, "b")
        servers = {(u.name, s.name): s for u in await hub.users() for s in u.servers.values()}
        assert not await tags.claimed_elsewhere(servers["org-repo-abcd1234", ""], "j1")
        assert await tags.claimed_elsewhere(servers["org-repo-abcd1234", ""], "j9")
        assert await tags.claimed_elsewhere(servers["org-repo-ijkl9012", ""], "j3")
        assert not await tags.claimed_elsewhere(servers["org-repo-mnop3456", ""], "j1")


async def test_removing_a_temporary_users_session_deletes_the_user() -> None:
    fake = _world()
    async with _hub(fake) as hub:
        (server,) = await SessionTags(hub, "b").of_job("j1")
        await hub.remove_session(server)
    assert "org-repo-abcd1234" not in fake.servers
    assert "DELETE /users/org-repo-abcd1234" in fake.calls


async def test_removing_a_named_session_spares_the_user_and_its_other_server() -> None:
    fake = _world()
    async with _hub(fake) as hub:
        (server,) = await SessionTags(hub, "b").of_job("j2")
        await hub.remove_session(server)
    assert set(fake.servers["alice"]) == {"lab"}
    assert [t["note"] for t in fake.tokens["alice"]] == ["alice's"]
