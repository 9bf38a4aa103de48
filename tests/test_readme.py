from __future__ import annotations

from pathlib import Path

from ivoa_broker.task_params import parameter_table_markdown

ROOT = Path(__file__).resolve().parent.parent


def test_readme_parameter_table_is_current() -> None:
    assert parameter_table_markdown() in (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make serve" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
