"""`pip install .` gives worker nodes the pilot and Harvester as console scripts, with no dependency."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pip_install_gives_the_panda_pilot_and_panda_harvester_commands(tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(ROOT)],
        check=True, capture_output=True, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(target)}

    pilot = subprocess.run([str(target / "bin" / "panda-pilot"), "--help"], env=env, capture_output=True, text=True)
    harvester = subprocess.run(
        [str(target / "bin" / "panda-harvester"), "--help"], env=env, capture_output=True, text=True
    )

    assert pilot.returncode == 0 and "--pilot-user" in pilot.stdout
    assert harvester.returncode == 0 and "run" in harvester.stdout
    assert not (target / "apps").exists() and not (target / "pandaweb").exists()
