"""Image references (taskpods.images): what parses, and what is refused — `latest`, no version,
bad names."""

from __future__ import annotations

import pytest

from taskpods import ImageError, ImageRef


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("polyetl/rstask:abc", "docker.io/polyetl/rstask:abc"),
        ("registry.internal:5000/etl/pytask:1.2.3", "registry.internal:5000/etl/pytask:1.2.3"),
        ("localhost/x@sha256:" + "a" * 64, "localhost/x@sha256:" + "a" * 64),
    ],
)
def test_image_refs_parse(ref: str, expected: str) -> None:
    assert str(ImageRef.parse(ref)) == expected


@pytest.mark.parametrize(
    "ref", ["polyetl/rstask:latest", "polyetl/rstask", "Bad/Name:1", "x:tag with space"]
)
def test_image_refs_refused(ref: str) -> None:
    with pytest.raises(ImageError, match="expected image"):
        ImageRef.parse(ref)
