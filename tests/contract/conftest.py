"""Fixtures of the contract suite: one task image per parameter, and a runner for it.

Containers run the way Kubernetes runs them: read-only root filesystem, an in-memory /tmp,
no network, no capabilities, no privilege escalation, and the image's own (non-root) user.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from tests.contract.harness import IMAGES, XCOM_DIR, Run, TaskImage, parse_lines


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
def run_image(tmp_path: Path) -> Any:
    xcom = tmp_path / "xcom"
    xcom.mkdir()
    xcom.chmod(0o777)  # the container's non-root user writes the result here

    def _run(
        img: TaskImage,
        args: Sequence[str],
        env: dict[str, str] | None = None,
        extra_docker_args: Sequence[str] = (),
    ) -> Run:
        cmd = [
            "docker", "run", "--rm",
            "--read-only", "--tmpfs", "/tmp:rw,size=32m",
            "--network", "none",
            "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
            "-v", f"{xcom}:{XCOM_DIR}",
        ]  # fmt: skip
        for key, value in (env or {}).items():
            cmd += ["-e", f"{key}={value}"]
        cmd += [*extra_docker_args, img.ref, *args]
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
