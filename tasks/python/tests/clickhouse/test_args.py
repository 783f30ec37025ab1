"""The flags the ClickHouse commands share (pytask.clickhouse.args): the TLS switches beat
their env variables."""

from __future__ import annotations

import pytest

from support.chdb_http import ChdbEndpoint
from tests.inprocess import pytask_lines, source_env


@pytest.mark.clickhouse
def test_tls_flags_beat_env_and_verification_is_on_by_default(chdb_endpoint: ChdbEndpoint) -> None:
    # The endpoint speaks plain HTTP: asking for HTTPS must fail to connect (transient), and
    # the error names the https address, proving the flag took effect over the env.
    env = source_env(chdb_endpoint, PYTASK_SOURCE_SECURE="false")
    code, _, lines = pytask_lines(["plan", "--database", "shop", "--source-secure"], env)
    assert code == 75, lines
    assert f"https://{chdb_endpoint.host}:{chdb_endpoint.port}" in lines[-1]["error"]
    code, _, lines = pytask_lines(
        ["plan", "--database", "shop"], {**env, "PYTASK_SOURCE_VERIFY": "maybe"}
    )
    assert code == 64
    assert 'expected PYTASK_SOURCE_VERIFY to be true or false, got: "maybe"' in lines[-1]["error"]
