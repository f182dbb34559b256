"""One executor interface, three engines: local processes, a real single-node Ray, submitit's local Slurm stand-in.

Each engine runs real processes through `run_ablation`: a small stand-in trainer script that the variant folder
ships (so Ray and submitit must send the folder's inputs and bring its results back), that crashes for one
value, and that records the environment it saw. Resume, a crash's stderr and Ctrl-C are checked on every engine.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

import rundiff
from rundiff.ablate.backend import Progress, ShortRun
from rundiff.ablate.driver import run_ablation
from rundiff.ablate.executors import Job
from rundiff.ablate.executors.local import LocalExecutor
from rundiff.ablate.plan import plan_ablation
from rundiff.ablate.results import read_record

STAND_IN = textwrap.dedent("""\
    import json, os, sys, time
    cfg = json.load(open("variant_config.json"))
    dim = cfg["network_dim"]
    json.dump({k: os.environ.get(k) for k in ("CUDA_VISIBLE_DEVICES", "RUNDIFF_TEST_SECRET", "PYTHONSTARTUP",
                                              "RUNDIFF_ADDED", "PATH")}, open("env_seen.json", "w"))
    if dim == 13:
        print("boom: dim 13 is unlucky", file=sys.stderr)
        sys.exit(3)
    with open("metrics.csv", "w") as fh:
        fh.write("step,loss\\n")
        for step in range(1, 4):
            time.sleep(cfg["sleep"] / 3)
            fh.write(f"{step},{1.0 / dim + step * 1e-3}\\n")
            print(json.dumps({"step": step, "total": 3}), flush=True)
    """)


class StandInBackend:
    """A backend whose 'trainer' is a tiny script written into the variant folder."""

    name = "stand-in"

    def __init__(self, sleep: float = 0.0) -> None:
        self.sleep = sleep

    def check(self, base, plan):
        return []

    def prepare(self, base, variant, folder: Path, short: ShortRun) -> Job:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "trainer.py").write_text(STAND_IN)
        (folder / "variant_config.json").write_text(json.dumps({**variant.overrides, "sleep": self.sleep}))
        return Job(variant.name, (sys.executable, "trainer.py"), folder, {"RUNDIFF_ADDED": "yes"}, short.device)

    def parse_progress(self, line: str):
        try:
            data = json.loads(line)
            return Progress(int(data["step"]), int(data["total"]))
        except (ValueError, KeyError, TypeError):
            return None

    def collect(self, folder: Path):
        if not (folder / "metrics.csv").is_file():
            raise rundiff.RundiffError("no metrics.csv")
        return []


@pytest.fixture
def base(tmp_path):
    run = tmp_path / "base"
    run.mkdir()
    (run / "train.sh").write_text(
        "accelerate launch train_network.py --network_module=networks.lora --network_dim=8 --learning_rate=1e-4\n"
    )
    return rundiff.load_run(run)


def sweep(base, out: Path, executor, *, values=("4", "13"), backend=None, on_progress=None):
    plan = plan_ablation(base, ["network_dim"], values=list(values), steps=3)
    return run_ablation(
        base, plan, backend or StandInBackend(), out, short=ShortRun(3), executor=executor, on_progress=on_progress
    )


def check_engine(base, tmp_path: Path, make_executor, engine: str) -> None:
    """Results come back, a crash keeps its stderr, the engine is recorded, a re-run skips what finished,
    Ctrl-C keeps what finished and a re-run trains only the rest."""
    out = tmp_path / f"sweep-{engine}"
    events: list[tuple[str, str]] = []
    result = sweep(base, out, make_executor(), on_progress=lambda n, p, e: events.append((n, e)))
    status = {r.name: r.status for r in result.records}
    assert status == {"network_dim=8": "done", "network_dim=4": "done", "network_dim=13": "failed"}
    failed = next(r for r in result.records if r.name == "network_dim=13")
    assert "boom: dim 13 is unlucky" in failed.stderr_tail and failed.returncode == 3
    assert (out / "network_dim=4" / "metrics.csv").read_text().startswith("step,loss")  # shipped back
    assert ("network_dim=4", "progress") in events
    plan = json.loads((out / "plan.json").read_text())
    assert plan["executor"]["name"] == engine and plan["backend"] == "stand-in"
    assert read_record(out / "network_dim=4").executor == engine
    seen = json.loads((out / "network_dim=4" / "env_seen.json").read_text())
    assert seen["RUNDIFF_ADDED"] == "yes" and seen["PATH"]
    assert seen["RUNDIFF_TEST_SECRET"] is None and seen["PYTHONSTARTUP"] is None  # not on the allow-list

    events.clear()
    again = sweep(base, out, make_executor(), on_progress=lambda n, p, e: events.append((n, e)))
    assert ("network_dim=4", "skipped") in events and ("network_dim=8", "skipped") in events
    assert ("network_dim=13", "started") in events  # a failed variant is tried again
    assert {r.name: r.status for r in again.records}["network_dim=4"] == "done"

    out2 = tmp_path / f"sweep-{engine}-interrupted"

    def interrupt(name, progress, event):
        if event == "done":
            raise KeyboardInterrupt

    result = sweep(
        base, out2, make_executor(), values=("4", "16"), backend=StandInBackend(sleep=1.5), on_progress=interrupt
    )
    assert result.interrupted
    done = [r.name for r in result.records if r.status == "done"]
    assert len(done) == 1 and {r.status for r in result.records} - {"done"} <= {"interrupted", "pending"}
    events.clear()
    resumed = sweep(
        base,
        out2,
        make_executor(),
        values=("4", "16"),
        backend=StandInBackend(sleep=0.0),
        on_progress=lambda n, p, e: events.append((n, e)),
    )
    assert (done[0], "skipped") in events and all(r.status == "done" for r in resumed.records)


def test_local_engine(base, tmp_path, monkeypatch):
    monkeypatch.setenv("RUNDIFF_TEST_SECRET", "must-not-pass")
    monkeypatch.setenv("PYTHONSTARTUP", "/nonexistent/evil.py")
    check_engine(base, tmp_path, lambda: LocalExecutor(jobs=2), "local")


def test_local_engine_gives_each_running_job_its_own_gpu(base, tmp_path):
    out = tmp_path / "gpus"
    result = sweep(
        base, out, LocalExecutor(["cuda:0", "cuda:1"]), values=("4", "16"), backend=StandInBackend(sleep=0.6)
    )
    assert all(r.status == "done" for r in result.records)
    seen = [json.loads((out / r.name / "env_seen.json").read_text())["CUDA_VISIBLE_DEVICES"] for r in result.records]
    assert set(seen) <= {"0", "1"} and len(set(seen[:2])) == 2  # the first two ran at once, one GPU each
    assert LocalExecutor(["cuda:0", "cuda:1"]).slots == 2 and LocalExecutor(jobs=3).slots == 3


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray", reason="the Ray engine needs ray (pip install 'rundiff[ray]')")
    os.environ["RUNDIFF_TEST_SECRET"] = "must-not-pass"  # the workers inherit this process's environment
    try:
        ray.init(
            num_cpus=2,
            num_gpus=2,
            include_dashboard=False,
            log_to_driver=False,
            runtime_env={"env_vars": {"PYTHONPATH": str(Path(rundiff.__file__).parent.parent)}},
        )
        yield ray
    finally:
        os.environ.pop("RUNDIFF_TEST_SECRET", None)
        ray.shutdown()


@pytest.mark.slow
def test_ray_engine_on_a_real_single_node_cluster_with_logical_gpus(base, tmp_path, ray_cluster):
    from rundiff.ablate.executors.ray import RayExecutor

    executor = RayExecutor(gpus_per_job=1.0)
    assert executor.slots == 2 and executor.describe()["cluster_gpus"] == 2
    check_engine(base, tmp_path, lambda: RayExecutor(gpus_per_job=1.0), "ray")
    seen = json.loads((tmp_path / "sweep-ray" / "network_dim=4" / "env_seen.json").read_text())
    assert seen["CUDA_VISIBLE_DEVICES"] in {"0", "1"}  # Ray granted the task one (logical) GPU
    where = read_record(tmp_path / "sweep-ray" / "network_dim=4").where
    assert where.startswith("ray: ") and "GPU" in where


@pytest.mark.slow
def test_builtin_trainer_runs_on_a_ray_worker_and_its_results_come_back(tmp_path, ray_cluster):
    pytest.importorskip("torch", reason="the builtin trainer needs the ablate extra")
    from rundiff.ablate.backends.builtin.backend import BuiltinBackend
    from rundiff.ablate.executors.ray import RayExecutor
    from rundiff.ablate.report import write_report
    from rundiff.ablate.sweep import load_sweep

    run = tmp_path / "base"
    run.mkdir()
    (run / "train.sh").write_text(
        "accelerate launch train_network.py --network_module=networks.lora --network_dim=4 "
        "--network_alpha=2 --learning_rate=1e-3 --lr_scheduler=cosine --lr_warmup_steps=10 "
        "--max_train_steps=100 --resolution=64\n"
    )
    base = rundiff.load_run(run)
    plan = plan_ablation(base, ["network_dim"], values=["2"], steps=2)
    out = tmp_path / "sweep"
    result = run_ablation(base, plan, BuiltinBackend(), out, short=ShortRun(2), executor=RayExecutor(gpus_per_job=1))
    assert [r.status for r in result.records] == ["done", "done"], [r.stderr_tail for r in result.records]
    for record in result.records:
        folder = out / record.name
        assert (folder / "lora.safetensors").is_file() and len((folder / "metrics.csv").read_text().splitlines()) == 3
    write_report(load_sweep(out))
    report = json.loads((out / "report.json").read_text())
    assert report["executor"]["name"] == "ray" and report["horizon"] == "compressed"
    assert "warmup 1 steps" in report["schedules"][0]  # 10 of 100, squeezed into 2 steps: rounds up to 1


@pytest.mark.slow
def test_slurm_engine_through_submitit_local_executor(base, tmp_path):
    pytest.importorskip("submitit", reason="the Slurm engine needs submitit (pip install 'rundiff[slurm]')")
    from rundiff.ablate.executors.slurm import SlurmExecutor

    check_engine(base, tmp_path, lambda: SlurmExecutor(tmp_path / "submitit", cluster="local", gpus_per_job=0), "slurm")
    where = read_record(tmp_path / "sweep-slurm" / "network_dim=4").where
    assert where.startswith("slurm job ")


def test_missing_engine_packages_and_bad_names_are_one_line_errors(monkeypatch):
    from rundiff.ablate.executors import make_executor

    with pytest.raises(rundiff.RundiffError, match="--executor must be one of local, ray, slurm"):
        make_executor("kubernetes")
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(rundiff.RundiffError, match=r"pip install 'rundiff\[ray\]'"):
        make_executor("ray")
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(rundiff.RundiffError, match=r"pip install 'rundiff\[slurm\]'"):
        make_executor("slurm")
