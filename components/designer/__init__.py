"""Design of the next assay batch: candidate edits of parent payloads, scoring and acquisition."""
