"""GET /health: public, cheap, honest."""

from __future__ import annotations

import pytest

from conftest import database_down


@pytest.mark.django_db
def test_it_answers_200_with_each_check_when_healthy(client):
    response = client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"] == {"ok": True}
    assert "timestamp" in body
    assert response["Cache-Control"].startswith("max-age=0")


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_naming_the_database_when_it_is_down(client):
    with database_down():
        response = client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["database"]["ok"] is False
    assert "unreachable" in body["checks"]["database"]["error"]


@pytest.mark.django_db(transaction=True)
def test_it_answers_503_when_a_migration_is_not_applied(client):
    from django.core.management import call_command

    call_command("migrate", "deadletters", "zero", verbosity=0)
    try:
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["checks"]["migrations"]["ok"] is False
        assert "not applied" in response.json()["checks"]["migrations"]["error"]
    finally:
        call_command("migrate", verbosity=0)
    assert client.get("/health").status_code == 200
