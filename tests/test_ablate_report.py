"""The ablate report: a sweep folder written with known curves -> verdicts, plots and md/html/json reports.

Sweeps are written with rundiff's own writers (plan.json, variant.json, metrics.csv, validation.csv), with
curves whose final 20 % are known exactly: a decay that has died out, plus an alternating wiggle that
cancels over an even number of steps. So every score, spread and ratio below is known in advance.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from rundiff.ablate.plan import Plan, Variant, write_plan
from rundiff.ablate.report import render_sweep, write_report
from rundiff.ablate.results import VariantRecord, write_metrics, write_record
from rundiff.ablate.sweep import load_sweep, tail_mean
from rundiff.ablate.verdict import judge_sweep, noise_threshold
from rundiff.errors import RundiffError

STEPS = 60
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def loss_curve(final: float, steps: int = STEPS) -> list[float]:
    """Decays onto ``final`` by 60 % of the steps; wiggles ±0.03 step by step (cancels over the last 12)."""
    return [final + 0.4 * max(0.0, 1 - s / (0.6 * steps)) ** 2 + 0.03 * (-1) ** s for s in range(1, steps + 1)]


def write_variant(
    root: Path,
    variant: Variant,
    *,
    final: float | None,
    val_offset: float | None = 0.01,
    dw_final: float = 0.5,
    status: str = "done",
    backend: str = "builtin",
    stderr: str = "",
    steps: int = STEPS,
    loss: list[float] | None = None,
    lr: float = 1e-4,
) -> None:
    folder = root / variant.name
    record = VariantRecord(
        variant.name,
        variant.overrides,
        variant.seed,
        variant.factor,
        backend,
        "0" * 16,
        status=status,
        returncode=0 if status == "done" else 1,
        wall_time_s=steps * 0.05 + 2.0,
        stderr_tail=stderr,
    )
    write_record(folder, record)
    if final is None and loss is None:
        return
    losses = loss if loss is not None else loss_curve(final, steps)
    rows = [
        {
            "step": s,
            "epoch": 1 + (s - 1) // 20,
            "loss": losses[s - 1],
            "loss_avg": sum(losses[:s]) / s,
            "lr/unet": lr * min(1.0, s / 10),
            "lr/text_encoder": lr / 2,
            "grad_norm": 1.0,
            "dw": dw_final * math.sqrt(s / steps),
            "dw_rel": dw_final / 100 * math.sqrt(s / steps),
            "wall_time_s": s * 0.05,
        }
        for s in range(1, steps + 1)
    ]
    columns = [
        "step",
        "epoch",
        "loss",
        "loss_avg",
        "lr/unet",
        "lr/text_encoder",
        "grad_norm",
        "dw",
        "dw_rel",
        "wall_time_s",
    ]
    write_metrics(folder, rows, columns)
    if val_offset is not None and final is not None:
        val = [
            {"step": s, "val_loss": final + val_offset + 0.2 * max(0.0, 1 - s / 40)}
            for s in range(steps // 3, steps + 1, steps // 3)
        ]
        write_metrics(folder, val, ["step", "val_loss"], name="validation.csv")


def make_sweep(
    root: Path,
    factor: str,
    finals: dict[Any, list[float]],
    *,
    backend: str = "builtin",
    val_offset: float | None = 0.01,
    dw: dict[Any, float] | None = None,
) -> tuple[Plan, list[Variant]]:
    """A one-factor sweep: ``finals[value][i]`` is the final loss of seed i."""
    seeds = list(range(max(len(v) for v in finals.values())))
    variants = []
    for value, per_seed in finals.items():
        for seed, final in enumerate(per_seed):
            name = f"{factor}={value}" + (f",seed={seed}" if len(seeds) > 1 else "")
            variant = Variant(name, {factor: value}, seed, factor)
            variants.append(variant)
            write_variant(
                root,
                variant,
                final=final,
                val_offset=val_offset,
                backend=backend,
                dw_final=(dw or {}).get(value, 0.5) * (1 + 0.01 * (seed - 1)),
            )
    plan = Plan("runs/base", "base", [factor], variants, STEPS, seeds)
    write_plan(plan, root)
    return plan, variants


def by_name(sweep_json: dict, name: str) -> dict:
    return next(f for f in sweep_json["factors"] if f["name"] == name)


# --- scores and verdicts -------------------------------------------------------------------------------------


def test_final_score_is_the_mean_of_the_last_fifth(tmp_path: Path) -> None:
    assert tail_mean(list(range(1, 61)), loss_curve(0.2)) == pytest.approx(0.2, abs=1e-12)
    # a curve that ends in NaN (diverged) has no score, rather than the mean of what came before
    assert tail_mean([1, 2, 3, 4, 5], [0.3, 0.2, 0.1, math.nan, math.nan]) is None
    assert tail_mean([1, 2], [math.nan, math.nan]) is None


def test_effect_larger_than_noise(tmp_path: Path) -> None:
    # means 0.16 / 0.13 / 0.10: effect 0.06; seeds at -0.005, 0, +0.005: spread 0.005 -> 12x
    make_sweep(
        tmp_path,
        "network_dim",
        {4: [0.155, 0.16, 0.165], 16: [0.125, 0.13, 0.135], 64: [0.095, 0.1, 0.105]},
        dw={4: 0.2, 16: 0.6, 64: 1.8},
    )
    data = json.loads(render_sweep(load_sweep(tmp_path), "json"))
    factor = by_name(data, "network_dim")
    assert factor["metric"] == "val_loss"  # measured, so preferred; val = loss + 0.01
    assert factor["effect"] == pytest.approx(0.06, rel=1e-6)
    assert factor["seed_spread"] == pytest.approx(0.005, rel=1e-6)
    assert factor["ratio"] == pytest.approx(12.0, rel=1e-6)
    assert factor["verdict"] == "larger_than_noise"
    assert [v["mean"] for v in factor["values"]] == pytest.approx([0.17, 0.14, 0.11])
    sentence = factor["sentence"]
    assert sentence.startswith(
        "network_dim: final validation loss ranges 0.110 (64) to 0.170 (4), "
        "12x the seed-to-seed spread (0.005): the effect is larger than noise"
    )
    assert "Lowest at network_dim=64; the loss falls as network_dim grows." in sentence
    assert sentence.endswith(" Proxy-model dynamics, not image quality.")
    assert data["proxy"] is True and data["backend"] == "builtin"
    movement = factor["movement"]
    assert movement["metric"] == "dw" and movement["verdict"] == "larger_than_noise"
    assert movement["effect"] == pytest.approx(1.6) and "‖ΔW‖ rises as network_dim grows" in movement["sentence"]


def test_effect_below_the_seed_spread_is_not_distinguishable(tmp_path: Path) -> None:
    # means 0.120 / 0.122: effect 0.002; seeds ±0.01: spread 0.01 -> 0.2x
    make_sweep(tmp_path, "network_alpha", {1: [0.11, 0.12, 0.13], 8: [0.112, 0.122, 0.132]}, val_offset=None)
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert factor.loss.metric == "loss"  # no validation.csv: the training loss is judged
    assert factor.loss.ratio == pytest.approx(0.2, rel=1e-6)
    assert factor.loss.verdict == "not_distinguishable"
    assert factor.sentence.startswith(
        "network_alpha: final training loss ranges 0.120 (1) to 0.122 (8), "
        "0.2x the seed-to-seed spread (0.01): not distinguishable from noise"
    )
    assert "Lowest" not in factor.sentence


def test_twice_the_spread_is_still_noise_with_few_seeds(tmp_path: Path) -> None:
    # ratio 2.0 with 3 seeds of 2 values: noise alone passes ~2.27x one time in 20 (Tukey q(0.95; 2, 4)/sqrt 3)
    make_sweep(tmp_path, "unet_lr", {1e-4: [0.19, 0.2, 0.21], 5e-4: [0.21, 0.22, 0.23]}, val_offset=None)
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert factor.loss.ratio == pytest.approx(2.0, rel=1e-6)
    assert factor.loss.noise_threshold == pytest.approx(3.927 / math.sqrt(3), rel=0.04)
    assert factor.loss.verdict == "not_distinguishable"


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((3, 3, 3), 4.339 / math.sqrt(3)),  # studentized range q(0.95; k=3, df=6)
        ((5, 5), 3.261 / math.sqrt(5)),  # q(0.95; 2, 8)
        ((4, 4, 4, 4), 4.199 / math.sqrt(4)),  # q(0.95; 4, 12)
    ],
)
def test_noise_threshold_matches_the_studentized_range(counts: tuple[int, ...], expected: float) -> None:
    assert noise_threshold(counts) == pytest.approx(expected, rel=0.04)
    assert noise_threshold(counts) == noise_threshold.__wrapped__(counts)  # same design, same threshold


def test_one_seed_says_the_spread_is_unknown(tmp_path: Path) -> None:
    make_sweep(tmp_path, "network_dim", {8: [0.2], 32: [0.15]})
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert factor.loss.verdict == "spread_unknown" and factor.loss.ratio is None
    assert factor.loss.effect == pytest.approx(0.05)
    assert (
        "final validation loss ranges 0.160 (32) to 0.210 (8); spread unknown with one seed: rundiff cannot "
        "tell this effect from seed noise, nor say which value is better. It needs at least 2 seeds per value "
        "(--seeds 0,1,2: with 3 seeds each, noise alone passes "
    ) in factor.sentence
    assert "Lowest" not in factor.sentence and "rises" not in factor.sentence and "falls" not in factor.sentence


def test_one_seed_never_claims_a_trend_however_large(tmp_path: Path) -> None:
    # issue 11: one seed and 2e-5 apart was reported as "the loss rises as network_dim grows"
    make_sweep(tmp_path, "network_dim", {8: [0.20000], 16: [0.20001], 32: [0.20002]})
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert "rises" not in factor.sentence and "Lowest" not in factor.sentence and "cannot tell" in factor.sentence


def test_a_trend_is_claimed_only_when_each_step_beats_the_spread(tmp_path: Path) -> None:
    # 8 -> 16 moves by 0.001 (within the 0.005 spread), 16 -> 32 by 0.05: the whole effect is larger than noise,
    # the lowest value is named, but "falls as network_dim grows" is not claimed
    make_sweep(tmp_path, "network_dim", {8: [0.195, 0.2, 0.205], 16: [0.194, 0.199, 0.204], 32: [0.145, 0.15, 0.155]})
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert factor.loss.verdict == "larger_than_noise" and "Lowest at network_dim=32" in factor.sentence
    assert "falls as" not in factor.sentence


def test_not_distinguishable_says_how_many_seeds_would_tell(tmp_path: Path) -> None:
    make_sweep(tmp_path, "unet_lr", {1e-4: [0.19, 0.2, 0.21], 5e-4: [0.21, 0.22, 0.23]}, val_offset=None)
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert "about 4 seeds per value would show it (--seeds 0,1,2,3)" in factor.sentence
    make_sweep(tmp_path / "tiny", "unet_lr", {1e-4: [0.19, 0.2, 0.21], 5e-4: [0.1901, 0.2001, 0.2101]})
    (tiny,) = judge_sweep(load_sweep(tmp_path / "tiny"))
    assert tiny.loss.verdict == "not_distinguishable" and "seeds per value would" not in tiny.sentence


def test_seeds_that_agree_exactly(tmp_path: Path) -> None:
    make_sweep(tmp_path, "network_dim", {8: [0.2, 0.2], 32: [0.15, 0.15]})
    (factor,) = judge_sweep(load_sweep(tmp_path))
    assert factor.loss.seed_spread == 0 and factor.loss.ratio is None and factor.loss.verdict == "larger_than_noise"
    assert "the seeds agree exactly (spread 0): the effect is larger than noise." in factor.sentence
    make_sweep(tmp_path / "same", "network_dim", {8: [0.2, 0.2], 32: [0.2, 0.2]})
    (same,) = judge_sweep(load_sweep(tmp_path / "same"))
    assert same.loss.verdict == "not_distinguishable"
    assert "final validation loss is 0.210 for every value" in same.sentence


def test_kohya_backend_is_not_labelled_proxy(tmp_path: Path) -> None:
    make_sweep(tmp_path, "network_dim", {8: [0.2], 32: [0.15]}, backend="kohya")
    sweep = load_sweep(tmp_path)
    assert not sweep.proxy
    assert "proxy" not in judge_sweep(sweep)[0].sentence
    assert "Proxy-model dynamics" not in render_sweep(sweep, "md")


def test_grid_values_and_categorical_factor(tmp_path: Path) -> None:
    factor = "network_dim+network_alpha"
    variants = [
        Variant(f"network_dim={d},network_alpha={a}", {"network_dim": d, "network_alpha": a}, 0, factor)
        for d, a in ((4, 1), (4, 4), (16, 1))
    ]
    for variant, final in zip(variants, (0.3, 0.25, 0.2), strict=True):
        write_variant(tmp_path, variant, final=final, val_offset=None)
    write_plan(Plan("runs/base", "base", ["network_dim", "network_alpha"], variants, STEPS, [0], grid=True), tmp_path)
    (verdict,) = judge_sweep(load_sweep(tmp_path))
    assert verdict.name == factor
    assert "ranges 0.200 (network_dim=16,network_alpha=1) to 0.300 (network_dim=4,network_alpha=1)" in verdict.sentence
    assert "Lowest" not in verdict.sentence  # one seed: no value is called better


# --- failed, interrupted, diverged ---------------------------------------------------------------------------


HOSTILE = "<script>alert('x')</script>"
HOSTILE_NAME = "<img src=x onerror=alert(1)>"  # a folder name cannot hold the '/' of a closing tag


def hostile_sweep(root: Path) -> None:
    """Two values with two seeds, one failed variant (whose metrics would wreck the numbers), an interrupted
    one with a partial curve, one that diverged, and names and stderr that are HTML."""
    _, variants = make_sweep(root, "network_dim", {4: [0.155, 0.165], 64: [0.095, 0.105]})
    failed = Variant(f"network_dim=128,seed=0 {HOSTILE_NAME}", {"network_dim": 128}, 0, "network_dim")
    write_variant(
        root,
        failed,
        final=5.0,
        status="failed",
        stderr='Traceback (most recent call last):\n  File "train_network.py", line 1\n'
        f"torch.OutOfMemoryError: CUDA out of memory {HOSTILE}\n```\nafter the fence",
    )
    interrupted = Variant("network_dim=128,seed=1", {"network_dim": 128}, 1, "network_dim")
    write_variant(
        root, interrupted, final=None, status="interrupted", stderr="KeyboardInterrupt", loss=[9.0] * 20, steps=20
    )
    diverged = Variant("network_dim=256,seed=0", {"network_dim": 256}, 0, "network_dim")
    write_variant(root, diverged, final=None, loss=loss_curve(0.2)[:40] + [math.nan] * 20)
    pending = Variant("network_dim=256,seed=1", {"network_dim": 256}, 1, "network_dim")
    category = Variant("optimizer_type=" + HOSTILE_NAME, {"optimizer_type": HOSTILE}, 0, "optimizer_type")
    other = Variant("optimizer_type=AdamW", {"optimizer_type": r"AdamW $\undefined{$"}, 0, "optimizer_type")  # mathtext
    write_variant(root, category, final=0.3)
    write_variant(root, other, final=0.2)
    plan = Plan(
        "runs/<base>",
        HOSTILE,
        ["network_dim", "optimizer_type"],
        [*variants, failed, interrupted, diverged, pending, category, other],
        STEPS,
        [0, 1],
        notes=[f"note {HOSTILE}"],
    )
    write_plan(plan, root)


def test_failed_and_unfinished_variants_are_shown_but_not_counted(tmp_path: Path) -> None:
    hostile_sweep(tmp_path)
    sweep = load_sweep(tmp_path)
    statuses = {v.name: v.status for v in sweep.variants}
    assert statuses[f"network_dim=128,seed=0 {HOSTILE_NAME}"] == "failed"
    assert statuses["network_dim=128,seed=1"] == "interrupted"
    assert statuses["network_dim=256,seed=1"] == "pending"  # never started: no folder
    data = json.loads(render_sweep(sweep, "json"))
    factor = by_name(data, "network_dim")
    assert [v["label"] for v in factor["values"]] == ["4", "64"]  # 128 failed/interrupted, 256 diverged
    assert factor["effect"] == pytest.approx(0.06) and factor["seed_spread"] == pytest.approx(0.00707107, rel=1e-5)
    assert any("256,seed=0 (no finite loss" in name for name in factor["left_out"])
    assert any(name.endswith("(failed)") for name in factor["left_out"])
    failed = next(v for v in data["variants"] if v["status"] == "failed")
    assert "CUDA out of memory" in failed["stderr_tail"] and failed["final_loss"] is None
    diverged = next(v for v in data["variants"] if v["name"] == "network_dim=256,seed=0")
    assert diverged["status"] == "done" and diverged["final_loss"] is None

    md = render_sweep(sweep, "md")
    assert "| network_dim=128,seed=1 | 128 | 1 | interrupted |" in md
    assert "## Failed or unfinished variants" in md and "KeyboardInterrupt" in md
    # the stderr holds a ``` line: the fence around it is longer, so it cannot close the block early
    assert "````text\nTraceback" in md and "\n```\nafter the fence\n````" in md
    outside_code = "".join(md.split("````")[::2])
    assert "<script>" not in outside_code and "<img" not in outside_code  # markup from files is neutralised


def test_html_escapes_everything_from_files(tmp_path: Path) -> None:
    hostile_sweep(tmp_path)
    html = render_sweep(load_sweep(tmp_path), "html")
    assert "<script>" not in html and "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "CUDA out of memory &lt;script&gt;" in html
    assert html.count('src="data:image/png;base64,') >= 4  # self-contained: plots embedded
    assert "http://" not in html and "https://" not in html


def test_bad_sweep_folders_are_one_clean_error(tmp_path: Path) -> None:
    with pytest.raises(RundiffError, match="no plan.json"):
        load_sweep(tmp_path)
    (tmp_path / "plan.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(RundiffError, match="unreadable plan.json"):
        load_sweep(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({"variants": [{"name": "../outside"}]}), encoding="utf-8")
    with pytest.raises(RundiffError, match="not a folder inside the sweep"):
        load_sweep(tmp_path)
    (tmp_path / "plan.json").write_text(json.dumps({"variants": [{"name": "a"}]}), encoding="utf-8")
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "variant.json").write_text("[1, 2", encoding="utf-8")
    assert load_sweep(tmp_path).variants[0].status == "unreadable"


# --- rendering, plots, determinism ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    root = tmp_path_factory.mktemp("sweep")
    make_sweep(root, "network_dim", {4: [0.155, 0.16, 0.165], 64: [0.095, 0.1, 0.105]}, dw={4: 0.2, 64: 1.8})
    return root, write_report(load_sweep(root))


def test_write_report_writes_every_format_and_plot(written: tuple[Path, list[Path]]) -> None:
    root, paths = written
    names = sorted(p.relative_to(root).as_posix() for p in paths)
    assert names == [
        "plots/network_dim_dw.png",
        "plots/network_dim_loss.png",
        "plots/network_dim_lr.png",
        "plots/network_dim_val_loss.png",
        "report.html",
        "report.json",
        "report.md",
    ]
    from PIL import Image

    for path in root.glob("plots/*.png"):
        data = path.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        with Image.open(path) as image:
            image.verify()
            assert image.size[0] > 400 and image.size[1] > 200
        assert b"Software" not in data and b"matplotlib" not in data  # no version stamp: deterministic bytes
    md = (root / "report.md").read_text(encoding="utf-8")
    assert "![Training loss — network_dim](plots/network_dim_loss.png)" in md
    assert "| network_dim=4,seed=0 | 4 | 0 | done | 0.155 | 0.165 | 0.198 | 5.0 s | 20.00 |" in md
    report = json.loads((root / "report.json").read_text(encoding="utf-8"))
    assert set(report) >= {"base", "backend", "steps", "seeds", "factors", "variants", "proxy"}
    assert set(report["factors"][0]) >= {"name", "values", "verdict", "effect", "seed_spread", "ratio", "metric"}
    assert set(report["variants"][0]) >= {
        "name",
        "overrides",
        "seed",
        "status",
        "final_loss",
        "final_val_loss",
        "dw",
        "wall_time_s",
        "steps_per_second",
    }
    assert report["variants"][0]["steps_per_second"] == pytest.approx(20.0)


def test_reports_are_deterministic(written: tuple[Path, list[Path]], tmp_path: Path) -> None:
    root, _ = written
    first = {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and (p.suffix == ".png" or p.name.startswith("report."))
    }
    again = write_report(load_sweep(root), tmp_path)
    second = {p.relative_to(tmp_path).as_posix(): p.read_bytes() for p in again}
    assert second.keys() == first.keys()
    assert all(second[name] == first[name] for name in first), [n for n in first if second[n] != first[n]]


def test_plots_have_no_offset_axis_and_equal_curves_stay_together(tmp_path: Path) -> None:
    """Curves 1e-6 apart must not be drawn a whole axis apart under a '+1.2e-1' offset label."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from rundiff.ablate import plots

    fig, ax = plt.subplots()
    ax.plot([0, 1, 2], [0.123401, 0.123402, 0.123401])
    ax.plot([0, 1, 2], [0.123402, 0.123401, 0.123402])
    plots._finish(ax, "t", "loss", factor="network_dim")
    fig.canvas.draw()
    assert ax.yaxis.get_major_formatter().get_offset() == ""
    low, high = ax.get_ylim()
    assert high - low >= plots.MIN_RELATIVE_SPAN * 0.1234 * 0.99
    plt.close(fig)
