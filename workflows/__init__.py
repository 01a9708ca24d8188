"""The case lifecycle: the transition table and the Temporal workflow that runs it."""
