"""The console's errors: an HTTP status and one line saying what is wrong and what to do.

The operator tool's one-line problems (`cli.problems.CliError`, and AWS errors as `from_aws`
words them) become the same line here, so the page says what the terminal would.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from ..cli.problems import NOT_FOUND, CliError, from_aws


class ConsoleError(Exception):
    """A request the console cannot answer.

    Args:
        status: the HTTP status (400 a bad request, 404 not found, 409 a confirmation missing,
            502 AWS refused or failed).
        problem: what is wrong, without personal data.
        remedy: what to do about it.
    """

    def __init__(self, status: int, problem: str, remedy: str) -> None:
        super().__init__(problem)
        self.status = status
        self.problem = problem
        self.remedy = remedy

    def line(self) -> str:
        """The one line the API and the page show."""
        return " ".join(f"{self.problem}; {self.remedy}".split())

    def document(self) -> dict[str, Any]:
        """The API's JSON body for it."""
        return {"status": self.status, "error": self.line()}


def from_cli(error: CliError) -> ConsoleError:
    """The operator tool's problem as a console error: not found is 404, AWS failing or refusing a call that the
    tool worded (`cli.problems.from_aws`, raised while handling botocore's error) 502, anything else 400."""
    if error.exit_code == NOT_FOUND:
        return ConsoleError(404, error.problem, error.remedy)
    upstream = isinstance(error.__context__, (BotoCoreError, ClientError))
    return ConsoleError(502 if upstream else 400, error.problem, error.remedy)


def from_aws_error(exc: Exception) -> ConsoleError:
    """A botocore error, worded as the operator tool words it, as a 502 (the console's upstream failed)."""
    error = from_aws(exc)
    return ConsoleError(502, error.problem, error.remedy)


def not_found(problem: str, remedy: str) -> ConsoleError:
    return ConsoleError(404, problem, remedy)


def bad_request(problem: str, remedy: str) -> ConsoleError:
    return ConsoleError(400, problem, remedy)
