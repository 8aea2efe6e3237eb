"""Block specs for the Keras-style `seqkit.Sequential`: one function per registered block.

``layers.GRU(hidden=256, layers=2)`` returns ``{"kind": "backend", "name": "gru", ...}``, checked
like a config's block spec; the sizes between blocks are derived when the model sees data.

Example:
    >>> from seqkit import layers
    >>> layers.GRU(hidden=64, bidirectional=True)
    {'kind': 'backend', 'name': 'gru', 'hidden': 64, 'bidirectional': True}
"""

from seqkit.sequential import layers_namespace

globals().update(layers_namespace())

__all__ = sorted(layers_namespace())
