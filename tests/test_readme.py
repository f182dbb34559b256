"""README.md tells the truth: its first commands, and the rule table generated from the registry."""

import re
from pathlib import Path

from rundiff.diagnose.rules import rules_markdown

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_rules_section_matches_the_rule_registry():
    block = re.search(r"<!-- rules:start[^>]*-->\n(.*)<!-- rules:end -->", README, re.S)
    assert block, "README lost its generated rules block"
    body = rules_markdown().split("\n", 1)[1].lstrip("\n")
    expected = "\n".join(("#" + line) if line.startswith("## ") else line for line in body.splitlines()) + "\n"
    assert block.group(1) == expected, "README's rule section drifted from rundiff.diagnose.rules; regenerate it"


def test_readme_opens_with_the_two_commands_and_ci_runs_the_test_command():
    blocks = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert "rundiff compare sample_runs/" in blocks[0] and "pip install" in blocks[0]
    assert "pytest" in blocks[1] and ".[test" in blocks[1]
    ci = (ROOT / ".ci" / "run").read_text()
    assert "python -m pytest -q" in blocks[1] and "python -m pytest -q" in ci
