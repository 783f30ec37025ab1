"""ClickHouse and the S3 server as containers (testcontainers), for the root integration tests.

* ClickHouse: the official image ``clickhouse/clickhouse-server`` at the version
  k8s/base/clickhouse pins, when it is present locally or can be pulled (decided once per
  session: a registry that can't be reached fails the pull in milliseconds); else this
  build's ``polyetl/chdb-http`` (images/chdb-http: ClickHouse's HTTP interface over chDB, no
  native protocol). ``POLYETL_SERVICES=local`` or
  ``=upstream`` forces one, as for the cluster.
* S3: this build's ``polyetl/s3-server`` (versitygw, the binary hack/s3-server.sh builds).

Each container gets a fresh password or key pair, publishes its ports on the Docker host and is
waited for over HTTP (bounded; its log is in the error). Every container and network started
here is removed by the context manager that started it: testcontainers' reaper (Ryuk) can't be
pulled on machines without a registry, and is then switched off with its documented setting
(``TESTCONTAINERS_RYUK_DISABLED``, here through testcontainers' config object).

The tests reach a container at the Docker host's bridge address when that answers from here
(Linux: the engine runs on this machine), so the same URL works from this process, from the
task images run with ``--network host`` and from inside the other containers (ClickHouse's
``s3()`` reading the S3 container); else at the address testcontainers names (127.0.0.1 last).

Environment that points the tests at servers of one's own instead (kind "external"):
``CLICKHOUSE_HOST``/``_PORT``/``_USER``/``_PASSWORD`` (one server), ``CLICKHOUSE_SOURCE_*`` and
``CLICKHOUSE_DEST_*`` (the pair; ``_NATIVE_PORT``, default 9000), ``S3_ENDPOINT_URL`` with the
``AWS_*`` credentials. docs/testing.md says how it fits together.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import os
import re
import secrets
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from docker.utils import parse_repository_tag
from testcontainers.core.config import testcontainers_config
from testcontainers.core.container import DockerContainer
from testcontainers.core.docker_client import DockerClient, get_docker_host
from testcontainers.core.network import Network

from .chdb_http import ChdbEndpoint
from .s3 import S3Settings, settings_from

__all__ = [
    "ClickHouseServer",
    "chdb_endpoint",
    "clickhouse",
    "clickhouse_container",
    "clickhouse_pair",
    "is_loopback",
    "is_loopback_url",
    "s3_container",
    "s3_settings",
    "started_images",
]

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
# The official image at the version the cluster runs (one place to pin it).
CLICKHOUSE_MANIFEST = REPO_ROOT / "k8s" / "base" / "clickhouse" / "deployment.yaml"
OFFICIAL_REPOSITORY = "clickhouse/clickhouse-server"
HTTP_PORT, NATIVE_PORT, S3_PORT = 8123, 9000, 7070
USER = "polyetl"  # as the cluster's Secrets name it (hack/deploy.sh); not the image's default
S3_REGION = "us-east-1"
# A pull is given up when the engine says nothing for this long (progress arrives every
# second or so while layers download); an unreachable registry fails in milliseconds.
PULL_SILENCE_S = 30
START_TIMEOUT_S = 120

Kind = Literal["official", "chdb-http", "external"]


@dataclass(frozen=True)
class ClickHouseServer(ChdbEndpoint):
    """A ClickHouse server for the tests: ``host``/``port`` its HTTP interface as reachable from
    this process, ``user``/``password``; ``url`` and ``client()`` as a ChdbEndpoint's (it goes
    wherever one does). ``native_host``/``native_port``: how another server container reaches
    it over the native protocol (``remote()``), None where it has none (chdb-http).

    For containers, ``native_host`` is ``host`` itself where containers reach that address
    (the Docker host's bridge address, on Linux), with the native port published there — so
    `pytask copy --mode server` works with PYTASK_SOURCE_HOST=host and
    PYTASK_SOURCE_NATIVE_PORT=native_port; else the container's network alias, port 9000."""

    native_host: str | None
    native_port: int | None
    kind: Kind


@dataclass(frozen=True)
class ClickHouseImage:
    """The image the session's ClickHouse containers run, and why."""

    kind: Kind
    ref: str
    reason: str


# ---------------------------------------------------------------------------------------------
# Images and the reaper


def _docker(**kwargs: int) -> DockerClient:
    """testcontainers' client of the engine (DOCKER_HOST, docker context): close ``.client``."""
    return DockerClient(**kwargs)


def image_present(ref: str) -> bool:
    client = _docker().client
    try:
        client.images.get(ref)
    except Exception:  # ImageNotFound, or any engine error: not usable
        return False
    finally:
        client.close()
    return True


@functools.cache
def image_available(ref: str) -> bool:
    """Whether ``ref`` is present locally or ``docker pull`` gets it (once per session)."""
    if image_present(ref):
        return True
    repository, tag = parse_repository_tag(ref)
    started = time.monotonic()
    client = _docker(timeout=PULL_SILENCE_S).client
    try:
        for message in client.api.pull(repository, tag=tag, stream=True, decode=True):
            if "error" in message:
                raise RuntimeError(message["error"])  # noqa: TRY301 - one way out, below
    except Exception as exc:  # whatever failed, the image can't be had
        log.info("cannot pull %s (%.1f s): %s", ref, time.monotonic() - started, exc)
        return False
    finally:
        client.close()
    return image_present(ref)


_reaper_checked = False


def _reaper_or_none() -> None:
    """Before the first container: keep testcontainers' reaper where its image can be had,
    else switch it off (the fixtures stop everything they start, reaper or not)."""
    global _reaper_checked  # noqa: PLW0603 - once per session
    if _reaper_checked:
        return
    _reaper_checked = True
    if testcontainers_config.ryuk_disabled:
        return
    if not image_available(testcontainers_config.ryuk_image):
        log.info("%s cannot be had: Ryuk disabled", testcontainers_config.ryuk_image)
        testcontainers_config.ryuk_disabled = True


@functools.cache
def _local_images() -> dict[str, str]:
    """This build's images by name (hack/images.sh all-refs: TAG, IMAGE_PREFIX honoured)."""
    out = subprocess.run(
        ["bash", str(REPO_ROOT / "hack" / "images.sh"), "all-refs"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    refs = [line.strip() for line in out.splitlines() if line.strip()]
    return {ref.rsplit("/", 1)[-1].split(":", 1)[0]: ref for ref in refs}


def local_image(name: str) -> str:
    """This build's ``polyetl/<name>`` image; fails the test when it isn't built."""
    ref = _local_images()[name]
    if not image_present(ref):
        pytest.fail(
            f"image {ref} is not built: `hack/images.sh build {name}` (or `make images`), or "
            "TAG=<a built tag>"
        )
    return ref


def official_clickhouse_ref() -> str:
    """The official image's ref as k8s/base/clickhouse pins it."""
    found = re.search(
        rf"image:\s*({re.escape(OFFICIAL_REPOSITORY)}:\S+)", CLICKHOUSE_MANIFEST.read_text()
    )
    if found is None:
        raise RuntimeError(f"no {OFFICIAL_REPOSITORY} image in {CLICKHOUSE_MANIFEST}")
    return found.group(1)


@functools.cache
def clickhouse_image() -> ClickHouseImage:
    """Official when it can be had (POLYETL_SERVICES=auto), else chdb-http; decided once."""
    choice = os.environ.get("POLYETL_SERVICES") or "auto"
    official = official_clickhouse_ref()
    if choice not in ("auto", "upstream", "local"):
        pytest.fail(f"expected POLYETL_SERVICES to be auto, upstream or local, got: {choice!r}")
    if choice == "local":
        reason = "POLYETL_SERVICES=local"
        return ClickHouseImage("chdb-http", local_image("chdb-http"), reason)
    if image_available(official):
        return ClickHouseImage("official", official, f"{official} present or pulled")
    if choice == "upstream":
        pytest.fail(f"POLYETL_SERVICES=upstream, but {official} cannot be pulled")
    reason = f"no registry: {official} cannot be pulled"
    return ClickHouseImage("chdb-http", local_image("chdb-http"), reason)


# Every image a container of this session ran, with the reason it was chosen (the run reports it).
started_images: dict[str, str] = {}


# ---------------------------------------------------------------------------------------------
# Starting a container and waiting for it


@functools.cache
def _bridge_gateway() -> str | None:
    """The address of the Docker host on its default bridge, when the engine is reached over
    a unix socket (on this machine, or its socket mounted here); None otherwise."""
    docker_host = get_docker_host()
    if docker_host and not docker_host.startswith("unix://"):
        return None
    client = _docker().client
    try:
        gateway = client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Gateway"]
    except Exception:  # no default bridge (rootless, custom engines): not used
        return None
    finally:
        client.close()
    return str(gateway) if gateway else None


def _addresses(container: DockerContainer, port: int) -> list[tuple[str, int]]:
    """Where this process may reach ``port`` of ``container``, in order of preference."""
    if testcontainers_config.tc_host_override:  # the user said where containers are reached
        return [(container.get_container_host_ip(), container.get_exposed_port(port))]
    published = int(container.get_docker_client().port(container.get_container_id(), port))
    found = [
        (_bridge_gateway(), published),
        (container.get_container_host_ip(), container.get_exposed_port(port)),
        ("127.0.0.1", published),
    ]
    addresses: list[tuple[str, int]] = []
    for host, mapped in found:
        if not host:
            continue
        address = ("127.0.0.1" if host == "localhost" else host, mapped)
        if address not in addresses:
            addresses.append(address)
    return addresses


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine's loopback, which no container reaches.

    >>> is_loopback("127.0.0.1"), is_loopback("localhost"), is_loopback("172.17.0.1")
    (True, True, False)
    """
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_loopback_url(url: str) -> bool:
    """Whether ``url``'s host is this machine's loopback.

    >>> is_loopback_url("http://127.0.0.1:39000"), is_loopback_url("http://s3.example:7070")
    (True, False)
    """
    return is_loopback(urllib.parse.urlsplit(url).hostname or "")


def _logs(container: DockerContainer) -> str:
    try:
        out, err = container.get_logs()
    except Exception as exc:  # the container may be gone already
        return f"(no log: {exc})"
    return (out + err).decode(errors="replace")[-4000:]


def wait_for_http(
    container: DockerContainer,
    port: int,
    path: str,
    ready: Callable[[int, bytes], bool],
    *,
    what: str,
    timeout: float = START_TIMEOUT_S,
) -> tuple[str, int]:
    """Poll ``http://<address><path>`` until ``ready(status, body)``; the address that
    answered. Fails with the container's log when it exits or the time is up."""
    addresses = _addresses(container, port)
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        for host, mapped in addresses:
            try:
                with urllib.request.urlopen(f"http://{host}:{mapped}{path}", timeout=2) as r:
                    status, body = r.status, r.read()
            except urllib.error.HTTPError as exc:
                status, body = exc.code, exc.read()
            except OSError as exc:
                last = f"{host}:{mapped}: {exc}"
                continue
            if ready(status, body):
                return host, mapped
            last = f"{host}:{mapped}: {status} {body[:200]!r}"
        container.reload()
        if container.status in ("exited", "dead"):
            raise RuntimeError(f"{what} exited before answering {path}:\n{_logs(container)}")
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{what} did not answer {path} within {timeout:.0f} s (last: {last}); "
                f"tried {addresses}; its log:\n{_logs(container)}"
            )
        time.sleep(0.1)


@contextmanager
def _running(container: DockerContainer, why: str) -> Iterator[DockerContainer]:
    """Start ``container``; remove it (and close its client) however the block ends."""
    _reaper_or_none()
    started_images.setdefault(container.image, why)
    try:
        container.start()
        yield container
    finally:
        try:
            container.stop()
        except Exception as exc:  # never mask the test's own failure
            log.warning("could not remove container of %s: %s", container.image, exc)


def _name(role: str) -> str:
    return f"polyetl-test-{role}-{secrets.token_hex(4)}"


# ---------------------------------------------------------------------------------------------
# ClickHouse


@contextmanager
def clickhouse_container(
    network: Network | None = None,
    alias: str = "clickhouse",
    image: ClickHouseImage | None = None,
) -> Iterator[ClickHouseServer]:
    """One ClickHouse server container with a fresh password, answering ``/ping``; on
    ``network`` (if given) as ``alias``. ``image`` defaults to the session's choice."""
    chosen = image or clickhouse_image()
    password = secrets.token_hex(16)
    container = (
        DockerContainer(chosen.ref)
        .with_name(_name(alias))
        .with_env("CLICKHOUSE_USER", USER)
        .with_env("CLICKHOUSE_PASSWORD", password)
        .with_exposed_ports(HTTP_PORT)
    )
    if chosen.kind == "official":
        # The official image's documented switch: the user may manage access (GRANTs). No
        # raised `nofile` ulimit (its docs' example): engines that may not raise it (rootless,
        # sandboxes like ours) refuse to start the container, and the tests don't need it.
        container.with_env("CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT", "1")
        container.with_exposed_ports(NATIVE_PORT)
    else:
        # chdb-http keeps its data in /var/lib/clickhouse, an emptyDir in the cluster. The
        # image runs as built (its tag is this tree's: a change to chdb_http.py needs
        # `make images`, as any image's does).
        container.with_tmpfs_mount("/var/lib/clickhouse")
    if network is not None:
        container.with_network(network).with_network_aliases(alias)
    with _running(container, chosen.reason):
        host, port = wait_for_http(
            container, HTTP_PORT, "/ping", lambda s, b: s == 200 and b == b"Ok.\n", what=chosen.ref
        )
        native_host, native_port = None, None
        if chosen.kind == "official":
            native_host, native_port = _native_address(container, host, network, alias)
        yield ClickHouseServer(
            host=host,
            port=port,
            user=USER,
            password=password,
            native_host=native_host,
            native_port=native_port,
            kind=chosen.kind,
        )


def _native_address(
    container: DockerContainer, host: str, network: Network | None, alias: str
) -> tuple[str | None, int | None]:
    """Where other containers reach the native port: the tests' own address and the port
    published there, unless that is this machine's loopback; then ``alias``:9000 on
    ``network`` (None without one). The first is what pytask's server-side copy needs: it
    passes the source's HTTP host, with PYTASK_SOURCE_NATIVE_PORT, to remote()."""
    if not is_loopback(host):
        for address in _addresses(container, NATIVE_PORT):
            if address[0] == host:
                return address
    if network is not None:
        return alias, NATIVE_PORT
    return None, None


def external_server(prefix: str) -> ClickHouseServer | None:
    """A server of the user's own from ``<prefix>HOST``/``_PORT``/``_USER``/``_PASSWORD``
    (``_NATIVE_PORT``, default 9000); None when ``<prefix>HOST`` is unset."""
    host = os.environ.get(f"{prefix}HOST")
    if not host:
        return None
    return ClickHouseServer(
        host=host,
        port=int(os.environ.get(f"{prefix}PORT") or HTTP_PORT),
        user=os.environ.get(f"{prefix}USER") or "default",
        password=os.environ.get(f"{prefix}PASSWORD", ""),
        native_host=host,
        native_port=int(os.environ.get(f"{prefix}NATIVE_PORT") or NATIVE_PORT),
        kind="external",
    )


@pytest.fixture(scope="session")
def clickhouse() -> Iterator[ClickHouseServer]:
    """The session's ClickHouse: CLICKHOUSE_HOST's, else a container (official or chdb-http)."""
    external = external_server("CLICKHOUSE_")
    if external is not None:
        yield external
        return
    with clickhouse_container() as server:
        yield server


@pytest.fixture(scope="session")
def chdb_endpoint(clickhouse: ClickHouseServer) -> Iterator[ClickHouseServer]:
    """The chdb-http image itself (what tests/integration/test_chdb_http.py pins down): the
    session's ClickHouse when that is chdb-http, else a container of its own."""
    if clickhouse.kind == "chdb-http":
        yield clickhouse
        return
    image = ClickHouseImage("chdb-http", local_image("chdb-http"), "the chdb-http image's tests")
    with clickhouse_container(image=image) as server:
        yield server


@pytest.fixture(scope="module")
def clickhouse_pair() -> Iterator[tuple[ClickHouseServer, ClickHouseServer]]:
    """``(source, dest)``: CLICKHOUSE_SOURCE_* and CLICKHOUSE_DEST_* when both are set, else two
    fresh containers on a network of their own (``remote()`` between them when official)."""
    source, dest = external_server("CLICKHOUSE_SOURCE_"), external_server("CLICKHOUSE_DEST_")
    if source is not None and dest is not None:
        yield source, dest
        return
    if source is not None or dest is not None:
        pytest.fail("set both CLICKHOUSE_SOURCE_HOST and CLICKHOUSE_DEST_HOST, or neither")
    _reaper_or_none()
    network = Network()
    network.create()
    try:
        with ExitStack() as stack:
            source = stack.enter_context(clickhouse_container(network, "clickhouse-source"))
            dest = stack.enter_context(clickhouse_container(network, "clickhouse-dest"))
            yield source, dest
    finally:
        try:
            network.remove()
        finally:
            network._docker.client.close()


# ---------------------------------------------------------------------------------------------
# S3


@contextmanager
def s3_container() -> Iterator[S3Settings]:
    """The S3 server (polyetl/s3-server) with a fresh key pair, its data on tmpfs, answering
    its health check; args as k8s/base/s3 runs it."""
    ref = local_image("s3-server")
    key_id = "PE" + secrets.token_hex(9).upper()
    secret = secrets.token_hex(20)
    container = (
        DockerContainer(ref)
        .with_name(_name("s3"))
        .with_env("ROOT_ACCESS_KEY_ID", key_id)
        .with_env("ROOT_SECRET_ACCESS_KEY", secret)
        .with_exposed_ports(S3_PORT)
        .with_tmpfs_mount("/data")
        .with_tmpfs_mount("/meta")
        .with_command(
            [
                f"--port=:{S3_PORT}",
                f"--region={S3_REGION}",
                "--health=/_health",
                "--quiet",
                "posix",
                "--sidecar=/meta",
                "/data",
            ]
        )
    )
    with _running(container, "this build's S3 server"):
        host, port = wait_for_http(container, S3_PORT, "/_health", lambda s, _: s == 200, what=ref)
        yield S3Settings(f"http://{host}:{port}", key_id, secret, S3_REGION)


@pytest.fixture(scope="session")
def s3_settings() -> Iterator[S3Settings]:
    """The server S3_ENDPOINT_URL names (with the AWS_* credentials), else a container."""
    if os.environ.get("S3_ENDPOINT_URL"):
        yield settings_from(os.environ)
        return
    with s3_container() as settings:
        yield settings
