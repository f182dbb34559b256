"""docs/rules.md is generated from the rule registry; the rule ids are a contract."""

from pathlib import Path

from rundiff.diagnose.rules import RULES, rules_markdown

DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"
CONTRACT_IDS = {
    "lr-zero-at-start",
    "warmup-too-long",
    "lr-too-low",
    "lr-too-high",
    "ema-too-slow",
    "rank-too-high-for-dataset",
    "repeats-too-high",
    "params-not-moving",
    "loss-flat",
    "val-loss-constant",
    "loss-not-finite",
    "lr-observed-mismatch",
}


def test_docs_match_the_registry():
    assert DOCS.read_text(encoding="utf-8") == rules_markdown(), (
        "docs/rules.md drifted from the rule registry; regenerate it with python -c "
        "'from rundiff.diagnose.rules import rules_markdown as m; print(m(), end=\"\")' > docs/rules.md"
    )


def test_every_contract_id_is_registered_once_with_docs():
    ids = [r.id for r in RULES]
    assert len(ids) == len(set(ids))
    assert set(ids) >= CONTRACT_IDS
    for r in RULES:
        assert r.summary and r.fix and len(r.doc) > 100, r.id
        assert "Threshold" in r.doc or r.thresholds or "threshold" in r.doc.lower(), r.id
