"""Tests of the local adapter (real processes, no mocks of the OS)."""
