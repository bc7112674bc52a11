"""Evaluation: suites (which tasks, which operator set), methods (how a workflow is obtained),
the methods x tasks runner with cost accounting, tables, and the static HTML report."""
