"""DigiHelse harness: command-line entry point and shared version."""

__version__ = "0.1.0"
