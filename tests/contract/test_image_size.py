"""Every task image fits its size budget.

The budgets are hack/lib.sh's (the third field of TASK_IMAGES, read through ``hack/images.sh
budgets``: the one place ``hack/images.sh build``'s size table reads them too), in MB of
10^6 bytes of ``docker image inspect``'s .Size. What makes up each image's size, and why, is
at the head of its images/<lang>/Dockerfile.
"""

from __future__ import annotations

import subprocess

import pytest

from tests.contract.harness import REPO_ROOT, TaskImage

pytestmark = pytest.mark.docker

MB = 1_000_000


@pytest.fixture(scope="module")
def budgets() -> dict[str, str]:
    """Each task image's budget in MB as hack/lib.sh states it (maybe empty), by image ref."""
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "hack/images.sh"), "budgets"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    lines = (line.partition(" ") for line in out.splitlines())
    return {ref: budget.strip() for ref, _, budget in lines}


def test_image_fits_its_size_budget(image: TaskImage, budgets: dict[str, str]) -> None:
    budget = budgets.get(image.ref, "")
    assert budget.isdigit(), (
        f"{image.ref} has no size budget (got {budget!r}): give it one, in whole MB, as the "
        f'third field of its line in hack/lib.sh TASK_IMAGES ("{image.language} {image.tool} <MB>")'
    )
    size = int(
        subprocess.run(
            ["docker", "image", "inspect", "--format", "{{.Size}}", image.ref],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    assert size <= int(budget) * MB, (
        f"{image.ref} is {size / MB:.1f} MB ({size} bytes), over its budget of {budget} MB "
        f"(hack/lib.sh TASK_IMAGES); what makes up its size: images/{image.language}/Dockerfile"
    )
