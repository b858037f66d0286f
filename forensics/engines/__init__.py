"""Engines compose the pipeline's stages: ``local`` in-process, ``ray`` on a Ray cluster."""
