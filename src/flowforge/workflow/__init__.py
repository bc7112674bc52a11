"""The workflow language (validate, graph) and the runtime that executes workflows on tasks."""
from flowforge.workflow.graph import to_dot, to_mermaid, workflow_graph
from flowforge.workflow.runtime import RunSummary, run_workflow_on_instances
from flowforge.workflow.validate import SAFE_BUILTINS, operators_used, validate_workflow, workflow_errors

__all__ = ["SAFE_BUILTINS", "RunSummary", "operators_used", "run_workflow_on_instances", "to_dot",
           "to_mermaid", "validate_workflow", "workflow_errors", "workflow_graph"]
