"""Training and evaluation of the face classifiers on crops made by the scan's own code."""
