"""A run killed with SIGKILL mid-way resumes from its last completed step with ``--resume``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spatialfuse import cli
from spatialfuse.datasets._synthetic import synthetic
from spatialfuse.workflow import LOG_FILE

OPTIONS = [
    "--n-domains", "4", "--seed", "5", "--fusion", "gated", "--encoder", "handcrafted",
    "--epochs", "300",  # fusion then lasts long enough for the kill to land mid-run
    "--n-runs", "2",  # two trained models show the resume as well as the default four
    "--n-top-genes", "100", "--n-comps", "10", "--quiet",
]  # fmt: skip
KILL_AFTER = "encode: checkpointed result"
TIMEOUT_S = 300


def _cli(input_path: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "spatialfuse.cli", "run", str(input_path), "--out", str(out)]


def _wait_for_line(process: subprocess.Popen, log: Path, text: str) -> str:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        ended = process.poll() is not None  # polled before reading: no race with the last line
        content = log.read_text() if log.is_file() else ""
        if text in content and not ended:
            return content
        assert not ended, f"the run ended (code {process.returncode}) before it could be killed"
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"{text!r} did not appear in {log} within {TIMEOUT_S} s")


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_sigkill_then_resume_gives_the_uninterrupted_result(tmp_path):
    input_path = tmp_path / "slide.h5ad"
    synthetic(n_spots=200, n_domains=4, n_genes=100, seed=6).write_h5ad(input_path)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    killed = subprocess.Popen(
        [*_cli(input_path, out), *OPTIONS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    log_at_kill = _wait_for_line(killed, out / LOG_FILE, KILL_AFTER)
    killed.send_signal(signal.SIGKILL)
    assert killed.wait(timeout=60) == -signal.SIGKILL
    checkpointed = [
        line.split(": checkpointed")[0].split()[-1]
        for line in log_at_kill.splitlines()
        if ": checkpointed result" in line
    ]
    assert checkpointed[-1] == "encode"
    assert not (out / "report.json").exists() and not (out / "domains.csv").exists()

    resumed = subprocess.run(
        [*_cli(input_path, out), *OPTIONS, "--resume"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert resumed.returncode == cli.EXIT_OK, resumed.stderr
    report = json.loads((out / "report.json").read_text())
    log = (out / LOG_FILE).read_text()
    finished_before_kill = set(checkpointed)
    assert set(report["resumed_steps"]) == finished_before_kill
    for step in finished_before_kill:
        assert f"{step}: reused cached result" in log
    assert "fuse: checkpointed result" in log and "resuming in" in log
    assert not list(out.rglob("*.part"))

    reference = tmp_path / "reference"  # in this process, where earlier tests changed threads
    assert cli.main(["run", str(input_path), "--out", str(reference), *OPTIONS]) == cli.EXIT_OK
    resumed_table = pd.read_csv(out / "domains.csv", index_col=0)
    reference_table = pd.read_csv(reference / "domains.csv", index_col=0)
    assert resumed_table["domain"].equals(reference_table["domain"])  # identical domains
    np.testing.assert_array_equal(resumed_table["confidence"], reference_table["confidence"])
