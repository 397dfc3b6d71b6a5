"""The ``recdrill`` command: one entry point whose subcommands mirror the project's modules."""
