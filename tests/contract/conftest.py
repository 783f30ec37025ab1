"""Fixtures of the contract suite: one task image per parameter, and a runner for it.

Containers run the way Kubernetes runs them: read-only root filesystem, an in-memory /tmp,
no network, no capabilities, no privilege escalation, and the image's own (non-root) user.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from platform_driver.containers import as_the_cluster_runs
from tests.contract.harness import IMAGES, XCOM_DIR, Container, Run, TaskImage, parse_lines


@pytest.fixture(params=IMAGES, ids=[image.language for image in IMAGES])
def image(request: pytest.FixtureRequest) -> TaskImage:
    img: TaskImage = request.param
    found = subprocess.run(
        ["docker", "image", "inspect", img.ref], capture_output=True, check=False
    )
    if found.returncode != 0:
        pytest.fail(f"image {img.ref} is not built: run `make images` first")
    return img


@pytest.fixture
def xcom(tmp_path: Path) -> Path:
    """The host directory mounted as the container's xcom dir (where the result goes)."""
    path = tmp_path / "xcom"
    path.mkdir()
    path.chmod(0o777)  # the container's non-root user writes the result here
    return path


def docker_run_flags(
    xcom: Path, env: dict[str, str] | None, extra_docker_args: Sequence[str]
) -> list[str]:
    """``docker run`` flags for a task the way Kubernetes runs it (see the module doc)."""
    flags = [*as_the_cluster_runs(scratch_size="32m"), "-v", f"{xcom}:{XCOM_DIR}"]
    for key, value in (env or {}).items():
        flags += ["-e", f"{key}={value}"]
    return [*flags, *extra_docker_args]


@pytest.fixture
def run_image(xcom: Path) -> Any:
    def _run(
        img: TaskImage,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        extra_docker_args: Sequence[str] = (),
    ) -> Run:
        cmd = ["docker", "run", "--rm", *docker_run_flags(xcom, env, extra_docker_args)]
        cmd += [img.ref, *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        result_file = xcom / "return.json"
        result_text = result_file.read_text() if result_file.exists() else None
        if result_file.exists():
            result_file.unlink()
        return Run(
            code=proc.returncode,
            stdout=proc.stdout,
            stderr=proc.stderr,
            result_text=result_text,
            lines=parse_lines(proc.stderr),
        )

    return _run


@pytest.fixture
def start_image(xcom: Path) -> Iterator[Any]:
    """Start a task detached (``docker run --detach``); every container it started is
    removed when the test ends."""
    started: list[str] = []

    def _start(img: TaskImage, args: Sequence[str], env: dict[str, str] | None = None) -> Container:
        cmd = ["docker", "run", "--detach", *docker_run_flags(xcom, env, ())]
        proc = subprocess.run(
            [*cmd, img.ref, *args], capture_output=True, text=True, timeout=120, check=True
        )
        started.append(proc.stdout.strip())
        return Container(id=started[-1], xcom=xcom)

    yield _start
    for container in started:
        subprocess.run(["docker", "rm", "--force", container], capture_output=True, check=False)
