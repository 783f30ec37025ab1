"""ClickHouse building blocks of the sync and load commands: names, connections, catalog."""
