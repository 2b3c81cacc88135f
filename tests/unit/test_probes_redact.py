"""Secrets never reach samples or run.json through a command line."""

from __future__ import annotations

import pytest

from probes.redact import MASK, redact_cmdline


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["train.py", "--password", "hunter2"], f"train.py --password {MASK}"),
        (["train.py", "--token=abc123"], f"train.py --token={MASK}"),
        (["train.py", "--hf-token", "hf_x", "--lr", "0.1"], f"train.py --hf-token {MASK} --lr 0.1"),
        (["train.py", "--aws-secret-access-key", "k"], f"train.py --aws-secret-access-key {MASK}"),
        (["train.py", "--key", "k", "--secret", "s"], f"train.py --key {MASK} --secret {MASK}"),
        (["env", "API_KEY=xyz", "DB_PASSWD=pw", "python"],
         f"env API_KEY={MASK} DB_PASSWD={MASK} python"),
        (["run", "--storage", "postgresql://bob:s3cret@db:5432/optuna"],
         f"run --storage postgresql://bob:{MASK}@db:5432/optuna"),
        (["run", "--storage=redis://:pw@cache/0"], f"run --storage=redis://:{MASK}@cache/0"),
        (["curl", "https://user:pass@example.com/x"], f"curl https://user:{MASK}@example.com/x"),
        # look-alikes stay
        (["run", "--monkey", "1", "--keyboard", "us", "--author", "me"],
         "run --monkey 1 --keyboard us --author me"),
        (["run", "--key-file", "/etc/k.pem", "https://example.com/a@b"],
         "run --key-file /etc/k.pem https://example.com/a@b"),
        (["run", "--token", "--verbose"], "run --token --verbose"),
        # query parameters, Ray addresses, passwords holding URL delimiters
        (["run", "--storage", "sqlite:///x.db?password=pw"], f"run --storage sqlite:///x.db?password={MASK}"),
        (["run", "--storage", "postgresql://u@h/db?sslmode=require&password=pw"],
         f"run --storage postgresql://u@h/db?sslmode=require&password={MASK}"),
        (["run", "mysql://u@h/db?pwd=a&token=b;secret=c"], f"run mysql://u@h/db?pwd={MASK}&token={MASK};secret={MASK}"),
        (["run", "--ray-address", "ray://u:pw@head:10001"], f"run --ray-address ray://u:{MASK}@head:10001"),
        (["run", "postgresql://u:p/w:x@h/db"], f"run postgresql://u:{MASK}@h/db"),
        (["run", "postgresql://u:p@ss@h/db"], f"run postgresql://u:{MASK}@h/db"),
        (["run", "https://example.com/?page=2&monkey=1"], "run https://example.com/?page=2&monkey=1"),
    ],
)
def test_redaction(argv: list[str], expected: str) -> None:
    assert redact_cmdline(argv, limit=500) == expected


def test_secrets_are_masked_before_the_line_is_cut() -> None:
    argv = ["python", "-m", "job", "--password", "x" * 300]
    text = redact_cmdline(argv)
    assert len(text) <= 120 and "xxx" not in text


def test_long_lines_are_cut_with_a_marker() -> None:
    text = redact_cmdline(["python"] + [f"--arg{i}" for i in range(100)])
    assert len(text) == 120 and text.endswith("…")


def test_empty_args_of_a_renamed_process_are_dropped() -> None:
    assert redact_cmdline(["ray::IDLE", "", "", ""]) == "ray::IDLE"


def test_one_function_masks_every_form_in_free_text() -> None:
    from probes.redact import redact

    text = ("cannot open sqlite:///a.db?password=hunter2 nor ray://u:hunter2@h:1 "
            "nor postgresql://u:hunter2@h/db?token=hunter2")
    assert "hunter2" not in redact(text)
    assert redact(text).count(MASK) == 4
