"""A stand-in for an Optuna release the tracer does not know (2.x): importing it must work
exactly as without bench, and the tracer must say it stepped aside."""

from optuna import study  # noqa: F401

__version__ = "2.10.1"
