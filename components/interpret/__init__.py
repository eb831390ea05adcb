"""Why a model predicts what it does: attributions, seqlets and motifs over any score function.

Everything here works on a *score function* ``score_fn(one_hot [B, L, 4] float32) -> [B]`` and
knows nothing about where the model came from, so the ``attribute`` command (a
:class:`trainer.predict.predictor.Predictor`) and pipeline code (a SavedModel's
``predict_one_hot`` signature) share it.

* :mod:`.attribution` -- batched in-silico mutagenesis, gradient x input, score functions over a
  model's named outputs (payload activity or one track over a bin range, optionally averaged
  with the reverse complement), AUROC.
* :mod:`.motifs` -- seqlets (top-|attribution| windows), greedy clustering by best-alignment
  PWM similarity on both strands, MEME output.
* :mod:`.plots` -- sequence-logo glyphs drawn with matplotlib and the per-payload figure.
* :mod:`.report` -- payloads spliced into the locus, attributed and written (bedGraph, npz,
  figures, motifs): the work behind ``enformer-tfx attribute``.
* The pipeline step: :mod:`.params` (the ``interpret:`` config, no TFX), :mod:`.held_out`
  (which held-out payloads, the report of a blessed model), :mod:`.component` and
  :mod:`.executor` (the ``Interpreter`` TFX component after the Evaluator).
"""
