"""Workflow search baselines (AFlow-style), which MetaFlow's one-pass generator replaces."""
