"""DAG Params that let one run override images and arguments, validated by JSON schema.

The schema checks the shape at trigger time; the operator then checks the registry against
the allowlist before any pod exists (``taskpods.pod``).
"""

from __future__ import annotations

from airflow.sdk import Param

from taskpods.images import TAG_PATTERN

LANGUAGES = ("python", "rust", "elixir")


def image_params() -> dict[str, Param]:
    """``image_tag``, ``images`` and ``task_args``: add them to a DAG's ``params``."""
    return {
        "image_tag": Param(
            None,
            type=["null", "string"],
            pattern=TAG_PATTERN,
            title="Image tag or digest for every task image (never latest)",
            description="Overrides POLYETL_IMAGE_TAG and the Variable polyetl_image_tag "
            "for this run.",
        ),
        "images": Param(
            {},
            type="object",
            properties={lang: {"type": ["null", "string"], "minLength": 1} for lang in LANGUAGES},
            additionalProperties=False,
            title="Full image reference per language",
            description='e.g. {"rust": "docker.io/polyetl/rstask:abc123"}; '
            "the registry must be allowed.",
        ),
        "task_args": Param(
            {},
            type="object",
            additionalProperties={"type": "array", "items": {"type": "string"}},
            title="Replace a task's arguments, by task id",
            description='For a one-off run, e.g. {"transform": ["transform", "--limit", "10"]}.',
        ),
    }


def clickhouse_name(default: str, title: str) -> Param:
    """A database or table name: any name ClickHouse allows (pytask quotes it in every query),
    so only what ClickHouse forbids is refused — an empty name, a NUL, more than 255 bytes
    (checked here in characters; pytask checks the bytes).

    >>> clickhouse_name("events", "Table").resolve("a; DROP DATABASE b")
    'a; DROP DATABASE b'
    """
    return Param(
        default, type="string", minLength=1, maxLength=255, pattern=r"^[^\u0000]+$", title=title
    )
