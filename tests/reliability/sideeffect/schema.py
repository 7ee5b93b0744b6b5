"""The side-effect table of the reliability scenarios, apart from the handlers module:
importing this must not register the test-only handlers in the pytest process."""

TABLE = "reliability_side_effect"
CREATE_TABLE = f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigserial PRIMARY KEY, event_pk bigint NOT NULL, webhook_id text NOT NULL)"
