"""Custom TFX components (one folder each) and the shared genome I/O modules."""
