"""Project finance for bankability runs (pure, vectorised over paths with numpy).

See :mod:`engine.finance.model` for the model document; each module's docstring
states its conventions and which of its numbers are exact money (integer cents)
and which are statistics (floats).
"""
