"""One construct per concern; the stacks wire them together."""
