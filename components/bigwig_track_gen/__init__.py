"""BigWigTrackGen: sample genomic windows, bin bigWig tracks, write ``Examples`` TFRecords.

Modules: :mod:`.sampling` (window sampling and splits, plain functions), :mod:`.dataset` (the
Beam pipeline shared with the CLI), :mod:`.executor` and :mod:`.component` (the thin TFX shell).
Nothing is imported here, so Beam workers that unpickle :mod:`.dataset` never load TFX.
"""
