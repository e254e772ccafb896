"""SES templates kept as files: `templates/<name>/<version>/{subject.txt,body.html,body.txt}`.

A template's files are the source of truth for three things: the SES template resources the
`EmailSender` declares, the catalog the handlers get in their environment (deployed names, and
where each version prints which variables), and the local emulator's rendering. Versions are
folders (`v1`, `v2`, ...): a change that renames or adds a variable goes in a new version, so
messages already in flight keep rendering with the version they were written for.

The templates are Handlebars; `handlebars.py` parses them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from .handlebars import TemplateSyntaxError
from .template_variables import variable_uses
from .handlers.shared.catalog import Catalog, TemplateVersion
from .handlers.shared.required_variables import VariableUses

SUBJECT_FILE = "subject.txt"
HTML_FILE = "body.html"
TEXT_FILE = "body.txt"
_SES_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass(frozen=True)
class TemplateFiles:
    """One version of one template, read from disk."""

    name: str
    version: str
    subject: str
    html: str
    text: str

    def deployed_name(self, prefix: str) -> str:
        """The SES template name: stack-prefixed, so stacks sharing an account never collide.

        Raises:
            ValueError: the name would break SES's naming rules (64 chars of A-Z a-z 0-9 _ -).
        """
        name = f"{prefix}-{self.name}-{self.version}"
        if not _SES_NAME.match(name):
            raise ValueError(
                f"SES template name {name!r} is invalid: use at most 64 characters of A-Z a-z 0-9 _ -; "
                "shorten the stack prefix or the template folder name"
            )
        return name

    @property
    def variables(self) -> VariableUses:
        """Variables the template prints, each with the conditions under which SES prints it.

        Raises:
            TemplateSyntaxError: a part does not parse (an unclosed or mismatched block tag).
        """
        return self._uses(self.subject, self.html, self.text)

    @property
    def subject_variables(self) -> VariableUses:
        """Variables whose content reaches the subject line, where a line break would inject headers.

        Raises:
            TemplateSyntaxError: the subject does not parse.
        """
        return self._uses(self.subject, scoped=True)

    def _uses(self, *parts: str, scoped: bool = False) -> VariableUses:
        try:
            return variable_uses(*parts, scoped=scoped)
        except TemplateSyntaxError as exc:
            raise TemplateSyntaxError(f"template {self.name!r} {self.version} does not parse: {exc}") from exc

    @property
    def digest(self) -> str:
        """A short content hash, for diffs and logs."""
        content = "\0".join((self.subject, self.html, self.text)).encode()
        return hashlib.sha256(content).hexdigest()[:12]


def discover(templates_dir: Path) -> list[TemplateFiles]:
    """Every template version under `templates_dir`, sorted by name and version.

    Raises:
        FileNotFoundError: a version folder lacks one of the three files.
    """
    found: list[TemplateFiles] = []
    for version_dir in sorted(path for path in templates_dir.glob("*/*") if path.is_dir()):
        missing = [f for f in (SUBJECT_FILE, HTML_FILE, TEXT_FILE) if not (version_dir / f).is_file()]
        if missing:
            raise FileNotFoundError(f"template folder {version_dir} lacks {', '.join(missing)}")
        found.append(
            TemplateFiles(
                name=version_dir.parent.name,
                version=version_dir.name,
                subject=(version_dir / SUBJECT_FILE).read_text(encoding="utf-8").strip(),
                html=(version_dir / HTML_FILE).read_text(encoding="utf-8"),
                text=(version_dir / TEXT_FILE).read_text(encoding="utf-8"),
            )
        )
    return found


def deployed_catalog(templates: list[TemplateFiles], prefix: str) -> Catalog:
    """What a stack deploys of `templates`, as the handlers' catalog (`handlers.shared.catalog`)."""
    found: dict[str, dict[str, TemplateVersion]] = {}
    for template in templates:
        found.setdefault(template.name, {})[template.version] = TemplateVersion(
            template.deployed_name(prefix), template.variables, template.subject_variables)
    return found
