"""Every HTML report in a real browser (headless Debian chromium): the summary block inside the first
1400x900 screen, nothing wider than the window at 50 runs, no console errors, and the sweep table
sorts and filters in the page. Skips with the reason when chromium or playwright is missing."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from browser import VIEWPORT, open_page, require_browser
from typer.testing import CliRunner

from rundiff.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.browser


@pytest.fixture(autouse=True)
def _browser():
    require_browser()


def layout(page) -> dict:
    return page.evaluate("""() => {
        const s = document.querySelector('#summary');
        const r = s ? s.getBoundingClientRect() : null;
        return {summary: r ? [r.top, r.bottom, r.left, r.right] : null,
                scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth};
    }""")


def check_first_screen(html: Path) -> dict:
    with open_page(html) as (page, errors):
        box = layout(page)
        assert errors == [], errors
    assert box["summary"] is not None, "no #summary block"
    top, bottom, left, right = box["summary"]
    assert top >= 0 and bottom <= VIEWPORT["height"], f"summary at {top}..{bottom}px, screen is 900px"
    assert left >= 0 and right <= VIEWPORT["width"]
    assert box["scrollWidth"] <= box["innerWidth"], "the page scrolls sideways"
    return box


def test_compare_three_sample_runs(sample_runs, tmp_path):
    out = tmp_path / "three.html"
    result = runner.invoke(
        app,
        [
            "compare",
            *(str(sample_runs / n) for n in ("SD15_PERFECT", "SD15_bespoke_baby", "SDXL_Current")),
            "--bad",
            "SD15_bespoke_baby",
            "--bad",
            "SDXL_Current",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    check_first_screen(out)


def fifty_runs(root: Path) -> list[Path]:
    runs = []
    for i in range(50):
        run = root / f"sweep_run_{i:02d}_with_a_rather_long_folder_name"
        run.mkdir(parents=True)
        (run / "train.sh").write_text(
            "accelerate launch train_network.py --pretrained_model_name_or_path=/models/sd15.safetensors "
            f"--network_dim={(8, 16, 32, 64)[i % 4]} --network_alpha={(4, 8)[i % 2]} "
            f"--learning_rate={(1e-4, 5e-5, 2e-4)[i % 3]} --seed={1000 + i} --output_name=sweep_{i:02d} "
            f"--output_dir=/data/outputs/sweep_{i:02d}_{'x' * 40} --resolution={(512, 768)[i % 2]} "
            f"--optimizer_type={('AdamW8bit', 'Prodigy')[i % 2]} --max_train_steps={1000 + 100 * (i % 5)}\n"
        )
        (run / "rundiff.yaml").write_text(
            f"outcome: {'good' if i % 4 == 0 else 'bad'}\nmetrics: {{score: {0.5 + 0.01 * (i % 4)}}}\n"
        )
        runs.append(run)
    return runs


def test_compare_fifty_runs_fits_sorts_and_filters(tmp_path):
    out = tmp_path / "fifty.html"
    result = runner.invoke(app, ["compare", *map(str, fifty_runs(tmp_path)), "-o", str(out), "--metric", "score"])
    assert result.exit_code == 0, result.output
    check_first_screen(out)
    with open_page(out) as (page, errors):
        rows = "#wide tbody tr"
        assert page.locator(rows).count() == 50
        page.fill("#run-filter", "sweep_run_07")
        assert page.locator(f"{rows}:visible").count() == 1
        assert "1 of 50 runs" in page.inner_text("#run-count")
        page.fill("#run-filter", "")
        column = page.locator("#wide thead th", has_text="network_dim").first
        column.click()
        first = page.locator(f"{rows} td").nth(0)  # sorted ascending by network_dim: 8 first
        index = page.evaluate("""() => Array.from(document.querySelectorAll('#wide thead th'))
                                 .findIndex(th => th.textContent.trim().startsWith('network_dim'))""")
        values = page.evaluate(f"""() => Array.from(document.querySelectorAll('#wide tbody tr'))
                                   .map(tr => tr.cells[{index}].textContent.trim())""")
        numbers = [float(v.split()[0]) for v in values]
        assert numbers == sorted(numbers) and first is not None
        column.click()
        values = page.evaluate(f"""() => Array.from(document.querySelectorAll('#wide tbody tr'))
                                   .map(tr => tr.cells[{index}].textContent.trim())""")
        assert [float(v.split()[0]) for v in values] == sorted(numbers, reverse=True)
        assert errors == []


def test_diagnose_with_plots(tmp_path):
    out = tmp_path / "diagnose.html"
    result = runner.invoke(
        app, ["diagnose", str(ROOT / "sample_runs" / "warmup_lr_zero"), "-o", str(out), "--exit-zero"]
    )
    assert result.exit_code == 0, result.output
    assert out.read_text().count("data:image/png;base64,") >= 1
    check_first_screen(out)


def test_ablate_report(tmp_path):
    make_sweep = pytest.importorskip("test_ablate_report").make_sweep
    from rundiff.ablate.report import render_sweep
    from rundiff.ablate.sweep import load_sweep

    make_sweep(tmp_path / "sweep", "network_dim", {4: [1.0, 1.02, 0.99], 16: [0.8, 0.82, 0.79]})
    out = tmp_path / "ablate.html"
    out.write_text(render_sweep(load_sweep(tmp_path / "sweep"), "html"), encoding="utf-8")
    check_first_screen(out)


def test_screenshots_for_the_docs(sample_runs, tmp_path, request):
    """With --screenshots DIR (or RUNDIFF_SCREENSHOTS=DIR) the sample reports are photographed for docs/."""
    import os

    target = os.environ.get("RUNDIFF_SCREENSHOTS")
    if not target:
        pytest.skip("set RUNDIFF_SCREENSHOTS=docs/screenshots to refresh the screenshots")
    folder = Path(target)
    folder.mkdir(parents=True, exist_ok=True)
    three = tmp_path / "three.html"
    runner.invoke(
        app,
        [
            "compare",
            *(str(sample_runs / n) for n in ("SD15_PERFECT", "SD15_bespoke_baby", "SDXL_Current")),
            "--bad",
            "SD15_bespoke_baby",
            "--bad",
            "SDXL_Current",
            "-o",
            str(three),
        ],
    )
    fifty = tmp_path / "fifty.html"
    runner.invoke(app, ["compare", *map(str, fifty_runs(tmp_path / "runs")), "-o", str(fifty), "--metric", "score"])
    diagnose = tmp_path / "diagnose.html"
    runner.invoke(app, ["diagnose", str(ROOT / "sample_runs" / "warmup_lr_zero"), "-o", str(diagnose), "--exit-zero"])
    for html, name in ((three, "compare-3-runs"), (fifty, "compare-50-runs"), (diagnose, "diagnose")):
        with open_page(html) as (page, _errors):
            page.screenshot(path=str(folder / f"{name}.png"))
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
