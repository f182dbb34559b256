"""Nothing in a run folder is passed over silently: each file is a source or skipped with a reason."""

import json
import textwrap

from typer.testing import CliRunner

from rundiff.cli import app
from rundiff.ingest.run_folder import GROUP_AFTER, ingest_run

runner = CliRunner()

SCRIPT = textwrap.dedent("""
    accelerate launch train_network.py --pretrained_model_name_or_path=/m/sd15.safetensors \\
      --network_module=networks.lora --network_dim=8 --learning_rate=1e-4
    """).lstrip()


def make_run(tmp_path):
    run = tmp_path / "run"
    (run / "samples").mkdir(parents=True)
    (run / ".git").mkdir()
    (run / "train.sh").write_text(SCRIPT)
    (run / "notes.docx").write_bytes(b"PK")
    (run / ".DS_Store").write_bytes(b"\0")
    (run / "optimizer.pt").write_bytes(b"\x80\x04")
    (run / "tokenizer.json").write_text("{}")
    (run / "train.log").write_text("step 1 loss 0.1\n")
    (run / "broken.toml").write_text("this is = = not toml")
    (run / "prep.py").write_text("print('hi')\n")
    (run / "sample_prompts.txt").write_text("a cat --d 3\n")
    for i in range(GROUP_AFTER + 2):
        (run / "samples" / f"s{i}.png").write_bytes(b"\x89PNG")
    (run / "samples" / "grid.jpg").write_bytes(b"\xff\xd8")
    return run


def reasons(files):
    return {k.path.replace(str(files.path), "RUN"): k.reason for k in files.skipped}


def test_every_file_is_a_source_or_skipped_with_its_reason(tmp_path):
    run = make_run(tmp_path)
    files = ingest_run(run)
    skipped = reasons(files)
    assert [s.path for s in files.sources] == [str(run / "train.sh"), str(run / "train.log")]
    assert files.sources[1].format == "text-log"  # logs are read at ingest (ingest/logs)
    assert skipped["RUN/.git/"].startswith("hidden")
    assert skipped["RUN/.DS_Store"] == "hidden file"
    assert "never unpickled" in skipped["RUN/optimizer.pt"]
    assert "tokenizer" in skipped["RUN/tokenizer.json"]
    assert skipped["RUN/broken.toml"].startswith("not read: ") and "invalid TOML" in skipped["RUN/broken.toml"]
    assert "never executed" in skipped["RUN/prep.py"]
    assert "prompt" in skipped["RUN/sample_prompts.txt"]
    assert ".docx" in skipped["RUN/notes.docx"]
    # many images of one folder are one entry (png and jpg alike)
    assert skipped["RUN/samples/"].startswith(f"{GROUP_AFTER + 3} files: image")
    every = {p.relative_to(run) for p in run.rglob("*") if p.is_file() and ".git" not in p.parts}
    covered = set()
    for path in [s.path for s in files.sources] + [k.path for k in files.skipped]:
        rel = path[len(str(run)) + 1 :]
        covered |= {p for p in every if str(p) == rel.rstrip("/") or str(p).startswith(rel)}
    assert covered == every


def test_a_clean_run_skips_nothing(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.sh").write_text(SCRIPT)
    assert ingest_run(run).skipped == []


def test_intermediate_checkpoints_are_listed(tmp_path, sample_runs):
    run = sample_runs / "kohya_tiny_lora"
    files = ingest_run(run)
    assert all("last file of its series" not in k.reason for k in files.skipped)  # only one save here
    assert any(s.path.endswith("train.log") and s.format == "text-log" for s in files.sources)  # read as a log


def test_json_markdown_and_terminal_name_skipped_files(tmp_path):
    run = make_run(tmp_path)
    out = tmp_path / "r.json"
    result = runner.invoke(app, ["compare", str(run), "-o", str(out), "--all"])
    assert result.exit_code == 0, result.output
    entry = json.loads(out.read_text())["runs"][0]
    assert {"path": str(run / "optimizer.pt"), "reason": "pickle-based file: never unpickled"} in entry["skipped"]
    assert entry["trainer"] == "sd-scripts"
    assert entry["trainer_evidence"] and entry["trainer_evidence"][0].startswith(str(run / "train.sh"))
    md = tmp_path / "r.md"
    assert runner.invoke(app, ["compare", str(run), "-o", str(md)]).exit_code == 0
    assert "## Files not read" in md.read_text() and "optimizer.pt" in md.read_text()
    html = tmp_path / "r.html"
    assert runner.invoke(app, ["compare", str(run), "-o", str(html)]).exit_code == 0
    assert "Files not read" in html.read_text()
    terminal = runner.invoke(app, ["compare", str(run)])
    assert "skipped run:" in terminal.stdout and "optimizer.pt" in terminal.stdout
