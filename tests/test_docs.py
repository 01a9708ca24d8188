"""The docs show the transition table as the code defines it."""

import re
from pathlib import Path

from models.policy import policy_markdown
from workflows.machine import ALL_ACTIONS, RULES, obligations_markdown, table_markdown

ROOT = Path(__file__).resolve().parents[1]


def test_architecture_shows_the_table_the_code_has():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert table_markdown() in doc
    assert obligations_markdown() in doc


def test_the_domain_digest_shows_every_key_of_the_policy():
    assert policy_markdown() in (ROOT / "docs" / "domain.md").read_text()


def test_the_table_shows_every_rule_with_its_consequences():
    rows = table_markdown().splitlines()[2:]
    assert len(rows) == len(RULES)
    for rule, row in zip(RULES, rows, strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0].split()[0] == rule.action
        for obligation in rule.meets:
            assert obligation in cells[6]
        for opens in rule.opens:
            assert opens.obligation in cells[7]
        for renders in rule.renders:
            assert renders.document in cells[8]
        for tells in rule.tells:
            assert tells.event in cells[9] and all(r in cells[9] for r in tells.to)
    assert {row.split("|")[1].split()[0] for row in rows} == set(ALL_ACTIONS)


def test_docs_open_with_the_folder_map():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    folders = doc.split("## The folders", 1)[1].split("\n## ", 1)[0]
    for folder in ("workflows/", "models/", "activities/", "audit/", "db/", "crypto/", "config/", "api/", "cli/"):
        assert f"| `{folder}` |" in folders, folder
        assert (ROOT / folder).is_dir()
    assert doc.index("## The folders") < doc.index("## The shape")


def test_readme_shows_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_every_picture_the_docs_show_is_there():
    for doc in (ROOT / "README.md", ROOT / "docs" / "architecture.md"):
        text = doc.read_text()
        for link in re.findall(r"\((?:docs/)?(images/[\w.-]+\.png)\)", text):
            assert (ROOT / "docs" / link).is_file(), f"{doc.name} links {link}, which is missing"
