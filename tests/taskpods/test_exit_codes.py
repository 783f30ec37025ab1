"""The exit-code mapping (taskpods.exit_codes), against real containers of each task image."""

from __future__ import annotations

import subprocess

import pytest

from platform_driver.containers import docker_run
from taskpods import Outcome, decide
from tests.contract.harness import image_refs


@pytest.mark.docker
@pytest.mark.parametrize("language", ["python", "rust", "elixir"])
@pytest.mark.parametrize(
    ("fail_with", "outcome"),
    [
        (None, Outcome.SUCCESS),
        ("permanent", Outcome.FAIL_NO_RETRY),
        ("transient", Outcome.FAIL_RETRY),
        ("nothing-to-do", Outcome.SKIP),
    ],
)
def test_exit_codes_of_real_containers_map_to_outcomes(
    language: str, fail_with: str | None, outcome: Outcome
) -> None:
    args = ["selfcheck", *(["--fail-with", fail_with] if fail_with else [])]
    proc = subprocess.run(
        docker_run(image_refs()[language], args),
        capture_output=True,
        check=False,
        timeout=120,
    )
    assert decide(proc.returncode) is outcome, proc.stderr
