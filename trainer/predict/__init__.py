"""Prediction tools behind ``enformer-tfx predict``, ``predict-regions`` and ``to-bedgraph``.

* :mod:`trainer.predict.predictor` -- any model source (resolved and loaded by
  :mod:`trainer.checkpoints`) as one :class:`Predictor` (``[B, L, 4]`` one-hot -> named
  outputs) running a compiled, fixed-signature ``tf.function``.
* :mod:`trainer.predict.payloads` -- the dataset table (``make-dataset``), seeded window
  offsets, per-site peaks and the per-payload summary.
* :mod:`trainer.predict.regions` -- BED regions tiled with model windows at their own span
  (N past chromosome ends), stride/strand ensembling, streaming into a ``.npy`` memmap.
* :mod:`trainer.predict.local_ism` -- exact fast ISM for Sonnet models: only each mutant's
  receptive field in the stem and conv tower is recomputed (``attribute --ism-path local``).

BedGraph/bigWig writing lives in :mod:`components.signal_output` (no TensorFlow needed).
"""
