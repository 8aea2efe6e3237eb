"""Block specs for the Keras-style `seqkit.Sequential`: one function per registered block.

``layers.GRU(hidden=256, layers=2)`` returns a `seqkit.Layer`: the ``gru`` back-end with those
arguments, checked like a config's block spec and built when the model first sees data (the
sizes between blocks are derived then).

Example:
    >>> from seqkit import layers
    >>> layers.GRU(hidden=64, bidirectional=True)
    Layer(backend gru: hidden=64, bidirectional=True)
"""

from seqkit.sequential import layers_namespace

globals().update(layers_namespace())

__all__ = sorted(layers_namespace())
