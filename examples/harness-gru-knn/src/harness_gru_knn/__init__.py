"""Example plugins for the speech-pretrain harness: a ``gru`` model and a ``knn`` probe.

Installed, the package registers through the ``harness`` entry-point group
(see pyproject.toml); ``harness plugins`` then lists both components.
"""
