"""flowforge: train a model to write task-level LLM workflows in one pass (MetaFlow) instead of
searching for them; run them sandboxed, compare with search (AFlow) and evaluate. `flowforge --help`."""
