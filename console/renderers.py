"""Who renders a template for the console: this checkout's renderer locally, SES itself for a deployed stack.

Locally the parts on disk are rendered by `ses_email_pipeline.template_render` (held to
handlebars.js by `tests/templates/test_reference_render.py`), so an edit shows on reload. For a
deployed stack the console asks SES to render the deployed version (sesv2
`TestRenderEmailTemplate`, `POST /v2/email/templates/{TemplateName}/render`), which answers with
the whole MIME message; what the author sees is then what SES sends, escaping included.
"""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from ..cli.session import Aws
from ..template_files import HTML_FILE, SUBJECT_FILE, TEXT_FILE
from ..template_render import RenderingFailure, render_email
from .http_errors import ConsoleError, from_aws_error
from .template_library import TemplateVersionFolder

#: SES's answer when the data cannot render the template (botocore's sesv2 model lists it for the call).
_SES_RENDERING_FAILED = "BadRequestException"
_SES_NOT_FOUND = "NotFoundException"
#: "You can execute this operation no more than once per second" (SES API v2 Reference, TestRenderEmailTemplate).
_SES_THROTTLED = "TooManyRequestsException"


@dataclass(frozen=True)
class Rendered:
    """A rendered email, or why it could not be rendered (`failure`: SES would accept the send and send nothing)."""

    renderer: str
    subject: str = ""
    html: str = ""
    text: str = ""
    failure: str = ""

    def document(self) -> dict[str, Any]:
        return {"renderer": self.renderer, "subject": self.subject, "html": self.html, "text": self.text,
                "failure": self.failure}


class Renderer(Protocol):
    """Renders one template version with data."""

    def render(self, version: TemplateVersionFolder, deployed_name: str, data: Mapping[str, Any]) -> Rendered:
        """The email `version` (deployed on the stack as `deployed_name`) makes of `data`."""


class LocalRenderer:
    """The parts as they are on disk now, rendered as handlebars.js renders them, with SES's strictness."""

    name = "local"

    def render(self, version: TemplateVersionFolder, deployed_name: str, data: Mapping[str, Any]) -> Rendered:
        files = version.files()
        try:
            found = render_email(files[SUBJECT_FILE].strip(), files[HTML_FILE], files[TEXT_FILE], data)
        except RenderingFailure as failure:
            return Rendered(self.name, failure=str(failure))
        return Rendered(self.name, subject=found.subject, html=found.html, text=found.text)


class SesRenderer:
    """SES renders the deployed version (`TestRenderEmailTemplate`): the email as SES would send it.

    Args:
        aws: the operator's clients for the stack's region.
        stack_name: the stack, named in the message when its template is not deployed.
    """

    name = "ses"

    def __init__(self, aws: Aws, stack_name: str) -> None:
        self._aws = aws
        self._stack_name = stack_name

    def render(self, version: TemplateVersionFolder, deployed_name: str, data: Mapping[str, Any]) -> Rendered:
        """Raises:
            ConsoleError: the version is not deployed on the stack (404), or AWS refused the call (502).
        """
        try:
            answer = self._aws.client("sesv2").test_render_email_template(
                TemplateName=deployed_name, TemplateData=json.dumps(data))
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code == _SES_RENDERING_FAILED:
                message = str(exc.response.get("Error", {}).get("Message", "")) or code
                return Rendered(self.name, failure=" ".join(message.split()))
            if code == _SES_NOT_FOUND:
                raise ConsoleError(404, f"{deployed_name} is not deployed on stack {self._stack_name}",
                                   "deploy this version (pulumi up) or pick a deployed one") from None
            if code == _SES_THROTTLED:
                raise ConsoleError(429, "SES renders at most one template a second (TestRenderEmailTemplate)",
                                   "reload in a second") from None
            raise from_aws_error(exc) from None
        except BotoCoreError as exc:
            raise from_aws_error(exc) from None
        return parse_mime(self.name, str(answer["RenderedTemplate"]))


def parse_mime(renderer: str, raw: str) -> Rendered:
    """The subject, HTML and text parts of the MIME message SES rendered."""
    message = email.message_from_string(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return Rendered(renderer, subject=str(message.get("Subject", "")), html=_part(message, "html"),
                    text=_part(message, "plain"))


def _part(message: EmailMessage, subtype: str) -> str:
    body = message.get_body(preferencelist=(subtype,))
    if body is None:
        return ""
    content = body.get_content()
    return content if isinstance(content, str) else content.decode("utf-8", "replace")
