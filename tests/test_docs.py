"""The docs show the transition table as the code defines it."""

from pathlib import Path

from workflows.machine import table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_architecture_shows_the_table_the_code_has():
    assert table_markdown() in (ROOT / "docs" / "architecture.md").read_text()


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
