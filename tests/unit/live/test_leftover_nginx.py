"""A killed ingest leaves its nginx (own session, SIGKILL skips cleanup) holding the RTMP port; the next start
stops that one, and only that one, before starting its own (real nginx-rtmp)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from streamstack.live.ingest import find_nginx, nginx_config, start_nginx, stop_leftover_nginx, wait_for_port
from tests.conftest import free_port, missing_part


def _config(run_dir: Path, port: int) -> str:
    return nginx_config(run_dir=run_dir, rtmp_host="127.0.0.1", rtmp_port=port, callback_url="http://127.0.0.1:9")


def test_a_restarted_ingest_stops_the_nginx_its_killed_predecessor_left(tmp_path: Path) -> None:
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    run_dir, port = tmp_path / "nginx", free_port()
    leftover = start_nginx(_config(run_dir, port), run_dir)
    successor = None
    try:
        assert wait_for_port("127.0.0.1", port)
        successor = start_nginx(_config(run_dir, port), run_dir)  # as the restarted ingest does
        assert leftover.wait(timeout=10) is not None  # stopped, so the port is free for the successor
        assert wait_for_port("127.0.0.1", port) and successor.poll() is None
    finally:
        for process in (leftover, successor):
            if process is not None and process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


def test_a_pid_file_naming_another_process_is_left_alone(tmp_path: Path) -> None:
    other = subprocess.Popen(["sleep", "30"])
    try:
        (tmp_path / "nginx.pid").write_text(f"{other.pid}\n")
        assert stop_leftover_nginx(tmp_path) is False
        assert other.poll() is None
        assert stop_leftover_nginx(tmp_path / "absent") is False
    finally:
        other.kill()
        other.wait()
