"""What the services share: ports (clock, ids), bearer tokens, the JSON guard, how endpoints reach their service
(routing), receipts, the bus node, SQLite."""
