"""The message exchange: NHN's service bus in miniature (queues per HER-id, AMQP 1.0 semantics)."""
