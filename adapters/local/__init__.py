"""Makes the tests importable as ``local.tests`` (unique among the adapters)."""
