"""Hand-written ExecutionBroker documents (not produced by the code under test)."""

from __future__ import annotations

K = "https://www.purl.org/ivoa.net/Calycopis-openapi/schema/v1.0/kinds/"
OLD = "https://www.purl.org/ivoa.net/EB/schema/v1.0/types/"

#: the ExecutionBroker working draft's walk-through, with the elided URIs and digest written out.
DIGEST = "sha256:" + "0dfe" * 16
SPEC_REQUEST_JSON = (
    f"""{{"executable": {{"kind": "{K}executable/docker-container.yaml",
                "meta": {{"name": "checksum"}},
                "image": {{"locations": ["ghcr.io/zarquan/heliophorus-androcles:sha-9a2513b"],
                          "digest": "{DIGEST}"}},
                "command": ["sha256sum", "json"], "environment": {{"INPUT": "/input"}}}},
 "compute": {{"kind": "{K}compute/simple-compute-resource.yaml",
             "cores": {{"min": 1, "max": 2}}, "memory": {{"min": 1, "max": 4}},
             "volumes": [{{"kind": "{K}volume/simple-volume-mount.yaml",
                          "path": "/input", "mode": "READONLY", "resource": "input-data"}}]}},
 "data": [{{"kind": "{K}data/simple-data-resource.yaml",
           "meta": {{"name": "input-data"}}, "location": "http://example.org/file.jpg"}}],
 "schedule": {{"requested": {{"duration": "PT1H"}}}}}}"""
).encode()

#: The same request in YAML, with historical kind spellings and ``type``.
SPEC_REQUEST_YAML = f"""\
executable:
  type: uri:docker-container-1.0
  meta:
    name: checksum
  image:
    locations:
      - "ghcr.io/zarquan/heliophorus-androcles:sha-9a2513b"
    digest: "{DIGEST}"
  command: [sha256sum, json]
  environment:
    INPUT: /input
compute:
  kind: {K}computer/simple-compute-resource.yaml
  cores: {{min: 1, max: 2}}
  memory: {{min: 1, max: 4}}
  volumes:
    - kind: urn:simple-volume-mount
      path: /input
      mode: READONLY
      resource: input-data
data:
  - kind: https://www.purl.org/ivoa.net/EB/schema/types/resources/data/simple-data-resource-1.0
    meta: {{name: input-data}}
    location: http://example.org/file.jpg
schedule:
  requested:
    duration: PT60M
""".encode()

#: The same request in XML without a namespace (as a Jackson-XML client sends it).
SPEC_REQUEST_XML = f"""<?xml version="1.0" encoding="UTF-8"?>
<offers-request>
  <executable kind="{OLD}executable/docker-container-1.0">
    <meta><name>checksum</name></meta>
    <image>
      <locations><location>ghcr.io/zarquan/heliophorus-androcles:sha-9a2513b</location></locations>
      <digest>{DIGEST}</digest>
    </image>
    <command><arg>sha256sum</arg><arg>json</arg></command>
    <environment><entry name="INPUT">/input</entry></environment>
  </executable>
  <compute type="{OLD}compute/simple-compute-resource-1.0">
    <cores><min>1</min><max>2</max></cores>
    <memory><min>1</min><max>4</max></memory>
    <volumes>
      <volume kind="{K}volume/simple-volume-mount.yaml">
        <path>/input</path><mode>READONLY</mode><resource>input-data</resource>
      </volume>
    </volumes>
  </compute>
  <data>
    <resource kind="{K}data/simple-data-resource.yaml">
      <meta><name>input-data</name></meta>
      <location>http://example.org/file.jpg</location>
    </resource>
  </data>
  <schedule><requested><duration>PT1H</duration></requested></schedule>
</offers-request>
""".encode()

#: the real 2025-11 offer set (abridged there; filled in here).
SPEC_OFFERSET_YAML = f"""\
kind: "{OLD}offerset/execution-offerset-1.0"
meta:
  uuid: 2d6712c4-5b5e-4a5a-9d7e-0a1b2c3d4e5f
  name: no-name
  url: "http://127.0.0.1:8082/offersets/2d6712c4-5b5e-4a5a-9d7e-0a1b2c3d4e5f"
  created: "2025-11-25T05:12:49Z"
result: "YES"
offers:
  - kind: "{OLD}session/scheduled-execution-session-1.0"
    meta:
      uuid: 5ec7aa00-1111-4222-8333-444455556666
      name: no-name-offer-0
      url: "http://127.0.0.1:8082/sessions/5ec7aa00-1111-4222-8333-444455556666"
    phase: "OFFERED"
    expires: "2025-11-25T05:17:49Z"
    schedule:
      preparing: {{start: "2025-11-25T05:13:00Z", duration: "PT1M"}}
      available: {{start: "2025-11-25T05:14:00Z/PT0S", duration: "PT2H"}}
      releasing: {{start: "2025-11-25T07:14:05Z", duration: "PT10S"}}
    executable:
      kind: "{OLD}executable/jupyter-notebook-1.0"
      meta: {{uuid: 0b0a0000-1111-4222-8333-444455556666, name: notebook}}
      phase: "INITIALIZING"
      location: "https://example.org/notebooks/demo.ipynb"
    compute:
      kind: "{OLD}compute/simple-compute-resource-1.0"
      phase: "INITIALIZING"
      cores: {{min: 10, max: 10}}
      memory: {{min: 10, max: 10}}
""".encode()

#: Update documents of §1.4 / §2 (JSON accept, YAML reject, legacy wrapper).
ACCEPT_JSON = b'{"kind": "uri:enum-value-update", "path": "phase", "value": "ACCEPTED"}'
REJECT_YAML = b"kind: uri:enum-value-update\npath: phase\nvalue: REJECTED\n"
CANCEL_LEGACY_JSON = (
    b'{"update": {"type": "uri:enum-value-update", "path": "/phase", "value": "CANCELLED"}}'
)
