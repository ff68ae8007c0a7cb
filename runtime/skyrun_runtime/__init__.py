"""The skyrun worker runtime: the same loop runs in Batch containers and local processes."""
