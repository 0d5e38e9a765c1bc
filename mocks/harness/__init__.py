"""What wires the services into one harness: the app ``serve`` runs, the default world, the local broker, chaos,
the invariants checked after a run. Services never import from here."""
