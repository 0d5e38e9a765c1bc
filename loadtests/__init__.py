"""Locust load tests for the DigiHelse harness (run through ``digihelse load``, or ``locust -f loadtests/locustfile.py``).

Locust monkey-patches the standard library with gevent on import, so these
modules are only ever imported inside a Locust process; the harness's own
processes (and its tests) start Locust as a subprocess. ``identities``,
``amqp_party``, ``amqp_invariants``, ``amqp_rates`` and ``registries`` import no
Locust and can be used anywhere; ``amqp_locustfile`` is the Locust file for
``digihelse load --amqp``.
"""
