"""Errors the user can act on, and the exit code each one maps to.

    LlmopsError                  base; never raised directly
    ├── UserError                exit 2: the user's input or config is wrong
    │   ├── ConfigError          llmops.yaml
    │   ├── PromptError          prompt version files, labels, lock file, references
    │   ├── TemplateError        Jinja2 syntax, undefined or unsafe access
    │   ├── EvalSetError         eval set files
    │   ├── LogFormatError       guard scan inputs that cannot be read at all
    │   └── IndexConfigError     RAG configs and their sources
    └── RuntimeFailure           exit 3: endpoint unreachable after retries, internal error
        └── RunStopped           a run stopped early (429s for ever, its time budget spent)

Every error renders as one line: ``file:line: what is wrong (how to fix)``.
"""

from __future__ import annotations

from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USER_ERROR = 2
EXIT_RUNTIME = 3


class LlmopsError(Exception):
    """Base of every error llmops raises on purpose."""

    exit_code = EXIT_RUNTIME

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.hint = hint

    def __str__(self) -> str:
        return self.location() + self.what()

    def location(self) -> str:
        """``file:line: `` (or ``line N: ``, or nothing): where the error is."""
        where = ""
        if self.file:
            where = _display(self.file)
            if self.line is not None:
                where += f":{self.line}"
            where += ": "
        elif self.line is not None:
            where = f"line {self.line}: "
        return where.replace("\n", " ")

    def what(self) -> str:
        """The field, the message and the hint, on one line."""
        what = self.message
        if self.field:
            what = f"{self.field}: {what}"
        if self.hint:
            what += f" ({self.hint})"
        return what.replace("\n", " ")


def _display(file: str) -> str:
    """A path under the working directory is shown relative to it."""
    path = Path(file)
    if path.is_absolute():
        try:
            return str(path.relative_to(Path.cwd()))
        except ValueError:
            pass
    return file


class UserError(LlmopsError):
    """The user's input or configuration is wrong; exit code 2."""

    exit_code = EXIT_USER_ERROR


class ConfigError(UserError):
    """llmops.yaml is missing, malformed or invalid."""


class PromptError(UserError):
    """A prompt version, label, lock file or reference is wrong."""


class TemplateError(PromptError):
    """A template fails to parse, uses an undefined variable or unsafe access."""


class EvalSetError(UserError):
    """An eval set file is malformed or does not match its prompt."""


class LogFormatError(UserError):
    """A log file given to guard scan cannot be read at all."""


class IndexConfigError(UserError):
    """A RAG config or its sources are wrong."""


class RuntimeFailure(LlmopsError):
    """Something outside the user's input failed; exit code 3."""

    exit_code = EXIT_RUNTIME


class RunStopped(RuntimeFailure):
    """A run stopped before its end: the endpoint answered only 429s for too long, or
    the run's time budget ran out. Finished results stay in the store for ``--resume``."""
