"""PayloadExampleGen: splice synthetic payloads into a reference locus, emit one tf.Example each.

Modules (the component itself is a thin TFX shell; the work is plain functions and Beam):

- :mod:`.params`     parameter names, defaults, fold/path parsing (no TFX imports)
- :mod:`.constructs` read + validate inputs, construct layout, splits (plain Python)
- :mod:`.records`    tf.Example building and the trainer's parse feature spec
- :mod:`.transform`  Beam PTransform writing deterministic shards, atomic publish
- :mod:`.executor`   TFX executor; :mod:`.component` the TFX component

Import :mod:`.component` explicitly; this package does not import TFX on its own.
"""
