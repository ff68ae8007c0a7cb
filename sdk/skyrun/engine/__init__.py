"""The rules applied through the ports: a job's lifecycle (settle, retry, requeue the
jobs of lost workers, start workers, finish a build) and a worker's slots.

Written against :mod:`skyrun.backends.ports` and :mod:`skyrun.domain` only, never an
adapter or the SDK, so that the SDK, the worker and the adapters' own event paths (a
build that ends, capacity that frees up) all run the same rules.
"""
