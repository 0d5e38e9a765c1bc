"""The kit's tests, one module per group; importing a module registers its tests (see :mod:`conformance.suite`)."""
