"""What the services share: ports (clock, ids), bearer tokens, the JSON guard, receipts, the bus node, SQLite."""
