from __future__ import annotations

from ivoa_broker_conformance.cli import main

raise SystemExit(main())
