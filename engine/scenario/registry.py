"""The transformations, in one table: ``OPS`` maps an ``op`` name to its :class:`Op`.

Adding an op: declare it in its family's module (its ``OPS`` tuple) with its schema
fragment, ``parse`` and ``apply``; it is published in the scenario schema, parsed and
applied from there. The order of the modules is the order of the ops in the schema.
"""
from __future__ import annotations

from . import battery, contracts, exports, indices, meter, prices
from .ops import Op

OPS: dict[str, Op] = {op.name: op for mod in (prices, indices, meter, exports, battery, contracts)
                      for op in mod.OPS}

__all__ = ["OPS"]
