"""Embedded offline hate-speech model: numpy-only TF-IDF + static-word-vector logistic regression.

This is a stand-in for the production SageMaker model
(facebook/roberta-hate-speech-dynabench-r4-target) so the app can run fully offline.
See MODEL.md for training data, evaluation and known failure modes.
"""

from devtools.hatemodel.scorer import DEFAULT_MODEL_PATH, LABELS, HateModel, load

__all__ = ["DEFAULT_MODEL_PATH", "LABELS", "HateModel", "load"]
