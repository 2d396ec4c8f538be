"""Fault injection: a notebook run killed part-way (SIGINT as Ctrl-C, SIGKILL as the
out-of-memory killer) leaves no executed notebook in place and no finished run record, and the
next run publishes a complete one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from korus_research import config

pytestmark = pytest.mark.mirror


def _env(tmp_path):
    processed = tmp_path / "processed"
    processed.mkdir(exist_ok=True)
    for table in config.data_processed().glob("*.parquet"):
        if not (processed / table.name).exists():
            (processed / table.name).symlink_to(table)
    env = {**os.environ, "KORUS_DATA_PROCESSED": str(processed), "KORUS_REPORTS": str(tmp_path / "reports"),
           "MPLBACKEND": "Agg"}
    env.pop("KORUS_STUDY_SCOPE", None)
    return env


def _default_sigint():
    # a process started with SIGINT ignored (as pytest-xdist's workers start their children) keeps it
    # ignored, and Python then never raises KeyboardInterrupt: give the run Ctrl-C's default meaning
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(out, env, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "korus_research", "run", "01_balance_overview", "-o", str(out),
                             "--quiet"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True, preexec_fn=_default_sigint, **kwargs)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_notebook_run_publishes_nothing(tmp_path, sig):
    if not (config.data_processed() / "census_annual.parquet").exists():
        pytest.skip("processed tables not built")
    import shutil

    env, out = _env(tmp_path), tmp_path / "reports"
    running = out / ".01_balance_overview.running.ipynb"
    for _attempt in range(3):
        proc = _run(out, env)
        deadline = time.time() + 60
        while time.time() < deadline:  # wait until the kernel has started executing cells
            if running.exists() and '"execution_count": 2' in running.read_text(errors="ignore"):
                break
            time.sleep(0.05)
        else:
            proc.kill()
            pytest.fail("the run never started executing cells")
        os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
        if proc.returncode != 0:
            break
        # the notebook is short: the run can finish between the check and the signal; that attempt
        # interrupted nothing (and published a complete notebook), so start again from scratch
        assert (out / "01_balance_overview.ipynb").exists()
        shutil.rmtree(out)
        shutil.rmtree(tmp_path / "processed" / "results", ignore_errors=True)
    assert proc.returncode != 0, "three runs finished before the signal reached them"
    assert not (out / "01_balance_overview.ipynb").exists()
    records = list((tmp_path / "processed" / "results").glob("*/runs/01.json"))
    assert all("finished" not in json.loads(r.read_text()) for r in records)
    # the next run publishes a complete notebook and a finished record
    again = _run(out, env)
    assert again.wait(timeout=300) == 0, again.stderr.read().decode()[-1500:]
    assert (out / "01_balance_overview.ipynb").exists() and not running.exists()
    records = list((tmp_path / "processed" / "results").glob("*/runs/01.json"))
    assert records and all(json.loads(r.read_text()).get("finished") for r in records)
    # and it is the notebook an uninterrupted run makes (text outputs cell by cell)
    clean = tmp_path / "uninterrupted"
    assert _run(clean, env).wait(timeout=300) == 0
    assert _text_outputs(out / "01_balance_overview.ipynb") == _text_outputs(clean / "01_balance_overview.ipynb")


def _text_outputs(path) -> list[str]:
    nb = json.loads(path.read_text())
    return ["".join(o.get("text", "")) or "".join(o.get("data", {}).get("text/plain", ""))
            for c in nb["cells"] for o in c.get("outputs", [])]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL])
def test_killed_fetch_is_repaired_by_the_next_fetch(tmp_path, sig):
    from korus_research import fetch, registry

    if config.mirror_dir() is None:
        pytest.skip("no offline mirror")
    raw = tmp_path / "raw"
    env = {**os.environ, "KORUS_DATA_RAW": str(raw)}
    for delay in (0.8, 1.1, 1.4, 1.7):  # python starts in about 0.7 s, then files are copied one by one
        proc = subprocess.Popen([sys.executable, "-m", "korus_research", "fetch", "--quiet"], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(timeout=60)
    done = subprocess.run([sys.executable, "-m", "korus_research", "fetch", "--quiet"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-1000:]
    manifest = fetch.read_manifest(raw)
    assert set(registry.SOURCES) <= set(manifest)
    for path, source in registry.SOURCES.items():
        assert manifest[path]["sha256"] == source.sha256 == fetch.sha256_of(raw / path), path
    assert not [p for p in raw.rglob(".*") if p.name not in (".manifest.lock",)]


def test_interrupted_make_then_make_builds_the_same_tables(tmp_path):
    """`make processed` in a clone of the project, interrupted at several points (SIGINT as
    Ctrl-C, SIGKILL), then run to the end: the tables equal the project's own."""
    import shutil

    import pandas as pd

    if shutil.which("git") is None or shutil.which("make") is None or config.mirror_dir() is None:
        pytest.skip("needs git, make and the mirror")
    if not (config.data_processed() / "census_annual.parquet").exists():
        pytest.skip("processed tables not built")
    root = config.PROJECT_ROOT
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(root), str(clone)], check=True, timeout=120)
    venv = root / ".venv"
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}
    env.update(KORUS_ROOT=str(clone), KORUS_DATA_MIRROR=str(config.mirror_dir()))
    for var in ("KORUS_DATA_RAW", "KORUS_DATA_PROCESSED", "KORUS_REPORTS", "KORUS_STUDY_SCOPE"):
        env.pop(var, None)
    make = ["make", f"VENV={venv}", "-o", str(venv / ".installed"), "JOBS=1", "processed"]
    for sig, delay in ((signal.SIGINT, 1.0), (signal.SIGKILL, 2.0), (signal.SIGINT, 4.0), (signal.SIGKILL, 7.0)):
        proc = subprocess.Popen(make, cwd=clone, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(delay)
        if proc.poll() is None:
            os.killpg(proc.pid, sig)
        proc.wait(timeout=120)
    done = subprocess.run(make, cwd=clone, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert subprocess.run(make[:-1] + ["-q", "processed"], cwd=clone, env=env, timeout=60).returncode == 0
    for table in sorted(config.data_processed().glob("*.parquet")):
        pd.testing.assert_frame_equal(pd.read_parquet(clone / "data" / "processed" / table.name),
                                      pd.read_parquet(table), obj=table.name)
    leftovers = [p for p in (clone / "data").rglob(".*") if p.name not in (".gitkeep", ".fetched", ".manifest.lock")]
    assert not leftovers, leftovers
    # a notebook target of the default study, killed part-way by SIGKILL, then made: the same
    # outputs as the stored baseline (an uninterrupted run of the committed notebook)
    target = ["reports/01_balance_overview.ipynb"]
    proc = subprocess.Popen(make[:-1] + target, cwd=clone, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    running = clone / "reports" / ".01_balance_overview.running.ipynb"
    deadline = time.time() + 120
    while time.time() < deadline and not (running.exists() and '"execution_count": 3' in running.read_text(errors="ignore")):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert not (clone / target[0]).exists()
    done = subprocess.run(make[:-1] + target, cwd=clone, env=env, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert _text_outputs(clone / target[0]) == _text_outputs(root / "notebooks" / "01_balance_overview.ipynb")
