"""Vertex AI compile/submit/schedule helpers and container definitions."""
