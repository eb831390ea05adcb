"""k-fold cross-validation of payload models: the out-of-fold report and the pipeline step.

- :mod:`.report`     out-of-fold table, per-fold spread, ``folds.tsv`` / ``summary.json`` (shared with
                     ``enformer-tfx cross-validate``)
- :mod:`.component`  ``CrossValidation``: the pipeline step reading the K fold models
- :mod:`.executor`   its executor (SavedModels only; no trainer import)
"""

# The step's output artifact type in ML Metadata (Vertex only compiles "<namespace>.<Name>" types);
# here, free of TFX, so ``enformer-tfx history`` can find the report without importing TFX.
ARTIFACT_TYPE = "enformer_tfx.CrossValidationReport"


def model_key(fold: int) -> str:
    """Input key of fold ``fold``'s model in the step (shared by its spec and its executor)."""
    return f"fold{fold}_model"
