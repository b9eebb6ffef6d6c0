"""No network at run time: the live app, the runtime and the training side's libraries make no DNS
lookup and open no connection (OpenVINO and NNCF would send analytics through
openvino_telemetry), and write nothing under the user's home."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Loaded first by every Python started with it on PYTHONPATH: records each lookup or connection
# (in forked children too) and refuses it.
GUARD = '''
import os, socket
def _record(what):
    with open(os.environ["NETWORK_ATTEMPTS"], "a") as f:
        f.write(what + "\\n")
    raise OSError("network refused by the test's guard: " + what)
socket.getaddrinfo = lambda host, *a, **k: _record(f"getaddrinfo {host}")
socket.gethostbyname = lambda host: _record(f"gethostbyname {host}")
socket.create_connection = lambda address, *a, **k: _record(f"create_connection {address}")
socket.socket.connect = lambda self, address: _record(f"connect {address}")
socket.socket.connect_ex = lambda self, address: _record(f"connect_ex {address}")
socket.socket.sendto = lambda self, *a: _record("sendto")
'''


def guarded(tmp_path: Path, argv: list[str]) -> tuple[subprocess.CompletedProcess, list[str]]:
    """Run Python with ``argv`` under the guard; its result and the attempts it made (a write
    under HOME, telemetry's id file, counts as one)."""
    guard = tmp_path / "guard"
    guard.mkdir(exist_ok=True)
    (guard / "sitecustomize.py").write_text(GUARD)
    attempts, home = tmp_path / "attempts.txt", tmp_path / "home"
    home.mkdir(exist_ok=True)
    env = {**os.environ, "PYTHONPATH": str(guard), "NETWORK_ATTEMPTS": str(attempts),
           "HOME": str(home)}  # fmt: skip
    env.pop("CI", None)  # openvino_telemetry stays quiet under CI=true: test without that help
    result = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=300)  # fmt: skip
    found = attempts.read_text().splitlines() if attempts.exists() else []
    return result, found + [f"wrote {p}" for p in home.rglob("*")]


def _installed(distribution: str) -> bool:
    """Whether a package is installed, asked of its metadata: find_spec cannot say in this
    process, where importing gesture_rt has made openvino_telemetry unimportable."""
    try:
        importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


@pytest.mark.skipif(not _installed("openvino-telemetry"),
                    reason="this OpenVINO comes without openvino_telemetry: nothing to catch")
def test_the_guard_catches_openvinos_own_telemetry(tmp_path):
    """Without gesture_rt, importing OpenVINO phones home: the guard must see it."""
    code = "import openvino, time; time.sleep(2)"
    _, found = guarded(tmp_path, ["-c", code])
    assert any("google-analytics" in line for line in found), found


def test_the_live_app_makes_no_network_attempt(tmp_path):
    argv = ["--no-display", "--source", "synthetic", "--seconds", "5", "--size", "160x120"]
    result, found = guarded(tmp_path, ["-m", "gesture_rt.live", *argv])
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])["summary"]
    assert summary["clips_evaluated"] > 0 and summary["engine"] == "openvino"
    assert found == []


@pytest.mark.skipif(importlib.util.find_spec("nncf") is None, reason="nncf is not installed")
def test_the_training_side_and_its_libraries_make_no_network_attempt(tmp_path):
    code = (f"import sys, time; sys.path.append({str(REPO)!r})\n"
            "import training.quantize, nncf, openvino\n"
            "try:\n    import openvino_telemetry\nexcept ImportError:\n    print('blocked')\n"
            "time.sleep(2)\n")  # fmt: skip
    result, found = guarded(tmp_path, ["-c", code])
    assert result.stdout.strip() == "blocked", result.stderr
    assert found == []
