"""Image references: parsed, never ``latest``, and only from allowed registries."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass

DEFAULT_REGISTRY = "docker.io"
# Docker's reference grammar, simplified to what a deployment uses.
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_REPOSITORY = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
_HOST = re.compile(r"^(?:localhost|[A-Za-z0-9.-]+\.[A-Za-z0-9.-]+|[A-Za-z0-9.-]+:\d+)(?::\d+)?$")

TAG_PATTERN = r"^(?!latest$)[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$|^sha256:[0-9a-f]{64}$"


class ImageError(ValueError):
    """A bad or forbidden image reference; the message names it and what was expected."""


def check_version(version: str, source: str) -> str:
    """A tag or digest that pins an image: not empty, not ``latest``.

    >>> check_version("0b446506ea7d", "POLYETL_IMAGE_TAG")
    '0b446506ea7d'
    >>> check_version("latest", "POLYETL_IMAGE_TAG")
    Traceback (most recent call last):
    ...
    taskpods.images.ImageError: expected POLYETL_IMAGE_TAG to pin a version (a tag other than \
"latest", or sha256:<digest>), got: "latest"
    """
    if version != "latest" and (_TAG.match(version) or _DIGEST.match(version)):
        return version
    raise ImageError(
        f'expected {source} to pin a version (a tag other than "latest", or sha256:<digest>), '
        f'got: "{version}"'
    )


@dataclass(frozen=True)
class ImageRef:
    """``registry/repository:tag`` or ``registry/repository@sha256:…``."""

    registry: str
    repository: str
    version: str  # a tag, or "sha256:<hex>"

    def __str__(self) -> str:
        sep = "@" if self.version.startswith("sha256:") else ":"
        return f"{self.registry}/{self.repository}{sep}{self.version}"

    @classmethod
    def parse(cls, ref: str, source: str = "image") -> ImageRef:
        """Parse a full reference; the registry defaults to docker.io as Docker's does.

        >>> str(ImageRef.parse("polyetl/rstask:abc123"))
        'docker.io/polyetl/rstask:abc123'
        >>> ImageRef.parse("registry.example.com:5000/etl/pytask@sha256:" + "0" * 64).registry
        'registry.example.com:5000'
        """
        name, version = _split_version(ref, source)
        first, _, rest = name.partition("/")
        registry, repository = (
            (first, rest) if rest and _HOST.match(first) else (DEFAULT_REGISTRY, name)
        )
        if not _REPOSITORY.match(repository):
            raise ImageError(f'expected {source} to name a repository, got: "{ref}"')
        return cls(registry=registry, repository=repository, version=check_version(version, source))

    def require_registry(self, allowed: Collection[str], source: str) -> ImageRef:
        """This reference, if its registry is allowed; else an error naming both."""
        if self.registry in allowed:
            return self
        raise ImageError(
            f"expected {source} to come from an allowed registry ({', '.join(sorted(allowed))}), "
            f'got: "{self}"'
        )


def _split_version(ref: str, source: str) -> tuple[str, str]:
    if "@" in ref:
        name, _, digest = ref.partition("@")
        return name, digest
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        return ref[:colon], ref[colon + 1 :]
    raise ImageError(f'expected {source} to pin a tag or digest, got: "{ref}"')
