"""Secrets (passwords in URLs of every form) are never written: run.json and report.md."""

from __future__ import annotations

from pathlib import Path

from bench.config import resolve


def test_secrets_are_masked_in_run_json_and_the_report(tmp_path: Path) -> None:
    """run.json and report.md hold every password of every URL form masked."""
    from bench.report import write_report
    from bench.run.runner import create_run_dir

    storage = f"sqlite:///{tmp_path}/s.db?password=hunter2"
    ray = "ray://u:hunter2@head:10001"
    cfg = resolve({"preset": "smoke", "strategies": "pool", "out": str(tmp_path / "out"),
                   "storage": storage, "ray_address": ray}, cwd=tmp_path)
    rd = create_run_dir(cfg, ["bench", "compare", "--storage", storage, f"--ray-address={ray}"], "r")
    meta = (rd.path / "run.json").read_text()
    assert "hunter2" not in meta and meta.count("***") == 4
    report = write_report(rd.path).read_text()
    assert "hunter2" not in report
