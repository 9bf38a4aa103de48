"""The ExecutionBroker document layer: pure, no I/O, no web routes.

* :mod:`.kinds`    canonical ``kind`` URIs and the alias table of every historical spelling
* :mod:`.model`    bounded pydantic models of requests, offer sets, sessions, updates
* :mod:`.convert`  documents <-> the neutral :class:`~ivoa_broker.protocol.ExecutionRequest`,
  offer rendering
* :mod:`.views`    the EB view of a job: session phase and ``meta.options`` from the core table
* :mod:`.updates`  session updates as actions (accept, reject, cancel, run-time extension)
* :mod:`.formats`  JSON / YAML / XML parsing and writing, content negotiation, safety limits
* :mod:`.xmlbind`  the model-driven XML binding (``xml_schemas/execution-broker.xsd``)
* :mod:`.errors`   :class:`~.errors.DocumentError` (-> ``application/problem+json``)
* :mod:`.openapi`  the packaged OpenAPI 3.1 document (``openapi.yaml``)
"""

from __future__ import annotations
