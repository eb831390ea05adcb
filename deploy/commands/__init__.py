"""The Vertex AI subcommands of ``enformer-tfx`` (``compile``, ``submit``, ``schedule``).

Same module contract as :mod:`pipeline.commands`; the CLI finds this package through the
``enformer_tfx.commands`` entry point (setup.py), so ``pipeline`` never imports ``deploy``.
"""
