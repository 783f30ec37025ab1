"""A task image run on this machine the way the cluster runs it — for the seed generator, the
contract suite, the operators' exit-code tests and the integration tests, from one place.

Kubernetes runs a task pod (taskpods' restricted profile) with a read-only root filesystem,
`/tmp` as an emptyDir scratch, every capability dropped, no privilege escalation and the
image's own non-root user; `docker run` gets the same from these flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def as_the_cluster_runs(network: str = "none", scratch_size: str | None = None) -> list[str]:
    """`docker run` flags for a task as its pod runs it; `network` "none" unless it needs
    a service (then "host"), `scratch_size` bounds `/tmp` like an emptyDir's sizeLimit.

    >>> as_the_cluster_runs(scratch_size="32m")[:3]
    ['--read-only', '--tmpfs', '/tmp:rw,size=32m']
    """
    scratch = f"/tmp:rw,size={scratch_size}" if scratch_size else "/tmp"
    return [
        "--read-only", "--tmpfs", scratch,
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--network", network,
    ]  # fmt: skip


def docker_run(  # noqa: PLR0913 - keyword-only, each a docker run option
    image: str,
    args: Sequence[str],
    *,
    network: str = "none",
    env: Mapping[str, str] | None = None,
    volumes: Mapping[str, str] | None = None,
    scratch_size: str | None = None,
) -> list[str]:
    """The whole `docker run --rm` command line (local images only: `--pull never`);
    `volumes` maps host paths to container paths."""
    flags = as_the_cluster_runs(network, scratch_size)
    flags += [a for name, value in (env or {}).items() for a in ("-e", f"{name}={value}")]
    flags += [a for host, inside in (volumes or {}).items() for a in ("-v", f"{host}:{inside}")]
    return ["docker", "run", "--rm", "--pull", "never", *flags, image, *args]
