"""Pipeline definition, configuration, runners and the `enformer-tfx` command line."""
