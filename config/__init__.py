"""How a crisisflow process is configured and wired: settings from the environment, logging, and the
Temporal client with the project's data converter."""
