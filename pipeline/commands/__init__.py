"""One module per `enformer-tfx` subcommand.

Each module defines ``register(subparsers) -> None`` which adds its subparser and sets
``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an exit code).
Modules are discovered automatically by :mod:`pipeline.cli`; heavy imports (TensorFlow, Beam)
belong inside the command function so that ``--help`` stays fast.
"""
