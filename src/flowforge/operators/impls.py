"""Implementation keys -> functions. Operator-set YAML names these keys in its `impl` field.
A plain dict literal: adding an operator means writing the function and one line here."""
from flowforge.operators import code_ops, llm_ops, tools

IMPLS = {
    "generate": llm_ops.generate,
    "answer_generate": llm_ops.answer_generate,
    "sc_ensemble": llm_ops.sc_ensemble,
    "review": llm_ops.review,
    "revise": llm_ops.revise,
    "format": llm_ops.format,
    "decompose": llm_ops.decompose,
    "verify": llm_ops.verify,
    "code_generate": code_ops.code_generate,
    "programmer": code_ops.programmer,
    "test": code_ops.test,
    "run_tests": code_ops.run_tests,
    "calculate": tools.calculate,
    "retrieve": tools.retrieve,
    "extract": tools.extract,
    "vote": tools.vote,
}
