"""Error types. `UserError` and its subclasses are bad input: the CLI prints one line and exits 2.
Infrastructure errors (BackendError, SandboxError) are never turned into a silent score of 0."""


class UserError(Exception):
    """Bad input or configuration. The message names what is wrong and where."""


class DataError(UserError):
    """A task, data file or spec is missing or malformed."""


class WorkflowError(UserError):
    """A workflow is invalid (syntax, forbidden construct, unknown operator). Names line and rule."""

    def __init__(self, message: str, line: int | None = None, rule: str | None = None):
        self.line, self.rule = line, rule
        where = f"line {line}: " if line else ""
        super().__init__(f"{where}{message}" + (f" [{rule}]" if rule else ""))


class BackendError(Exception):
    """An LLM backend failed (unreachable, auth, retries exhausted). Infrastructure, not a score."""


class BackendConfigError(UserError, BackendError):
    """A model spec or endpoint that cannot work: unknown spec, bad auth, 404, unreachable."""


class SandboxError(Exception):
    """The sandbox itself failed, or cannot give the isolation asked for. Not the code's fault."""
