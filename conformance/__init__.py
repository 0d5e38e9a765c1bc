"""The vendor conformance kit (``digihelse conformance``): does an EPJ speak DigiHelse correctly?

The kit plays helsenorge (its own AR party in the Innbygger role, a CPA with
each service) and talks to the EPJ under test only over the AMQP 1.0 broker.
Suite → groups → tests with stable ids, each verifying requirements from
``requirements.csv``; results as console, JUnit, JSON and HTML.

Modules, one job each: ``suite`` (catalogue), ``groups/`` (the tests),
``steps`` (shared message exchanges), ``session``/``inbox``/``matching``
(the kit's side of the bus), ``inputs`` (messages good and bad), ``parties``
(mock AR/CPPA), ``reference`` (the built-in EPJ as system under test),
``runner`` (verdicts), ``results`` (pydantic result shape), ``reports/``,
``kit`` (one run from options), ``requirements`` (CSV and coverage).
See ``conformance/README.md`` for how a vendor runs it.
"""
