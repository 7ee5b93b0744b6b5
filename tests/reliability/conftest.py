"""Fixtures of the reliability scenarios: one private PostgreSQL per session with a
migrated template database, a fresh database per scenario, a private Redis per scenario.

A missing binary (PostgreSQL, redis-server, gunicorn) skips on a laptop and FAILS under
CI=true, like the `postgres` marker.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import IN_CI
from tests.reliability import harness
from tests.reliability.sideeffect.schema import CREATE_TABLE

TEMPLATE = "reliability_template"


@pytest.fixture(scope="session")
def _dependencies() -> None:
    missing = harness.missing_dependencies()
    if missing:
        message = f"reliability scenarios need: {', '.join(missing)}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message + " (fails under CI=true)")


@pytest.fixture(scope="session")
def private_pg(_dependencies: None) -> Iterator[harness.PrivatePostgres]:
    with harness.workdir() as work:
        pg = harness.PrivatePostgres(work)
        pg.init()
        pg.start()
        try:
            pg.execute(f"CREATE DATABASE {TEMPLATE}")
            env = harness.base_env(work, pg.url(TEMPLATE), "redis://127.0.0.1:1/0")
            harness.manage(env, "migrate", "--no-input")
            pg.execute(CREATE_TABLE, TEMPLATE)
            yield pg
        finally:
            pg.stop("immediate")


@pytest.fixture
def work() -> Iterator[Path]:
    with harness.workdir() as path:
        yield path


@pytest.fixture
def scenario_db(private_pg: harness.PrivatePostgres, request: pytest.FixtureRequest) -> str:
    name = "s_" + request.node.name.removeprefix("test_it_")[:50]
    private_pg.execute(f"DROP DATABASE IF EXISTS {name}")
    private_pg.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    return name


@pytest.fixture
def private_redis(_dependencies: None, work: Path) -> Iterator[harness.PrivateRedis]:
    redis = harness.PrivateRedis(work)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()
