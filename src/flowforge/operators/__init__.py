"""Operators (what a workflow's `ops.<name>` calls do) and operator sets (which ones a workflow
may use, as YAML data the generator reads)."""
from flowforge.operators.context import OperatorError, OpContext
from flowforge.operators.impls import IMPLS
from flowforge.operators.spec import OperatorSet, OperatorSpec, Param, available_sets, load_operator_set

__all__ = ["IMPLS", "OpContext", "OperatorError", "OperatorSet", "OperatorSpec", "Param",
           "available_sets", "load_operator_set"]
