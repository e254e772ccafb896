"""Config keys nobody reads: a typo in a key name, refused with the closest key the program knows.

The Pulumi CLI checks a stack's values against the keys Pulumi.yaml declares, but it passes an
undeclared key of the project's namespace to the program without a word (`acountSendRate: 14`
would leave the stack at the default rate), and a key in a namespace no package reads
(`emailpipeline:production`) too. So the program checks the keys it is given against the ones it
reads, before anything is declared: one problem per key, naming it as the stack file writes it and
the key it most likely means.

Keys of other namespaces belong to their packages (`aws:region` to the AWS provider, `pulumi:` to
the engine), which check their own; a namespace that no package of the program reads but that is
close to the project's name is taken for a misspelling of it. Any other namespace is left alone:
a shared Pulumi ESC environment may well set keys for other projects.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from .checks import closest


def key_problems(given: Iterable[str], *, project: str, settings: Collection[str],
                 namespaces: Collection[str]) -> list[str]:
    """One line per config key the program would silently ignore.

    Args:
        given: every config key the program was given, `<namespace>:<key>` (Pulumi passes keys
            written without a namespace under the project's).
        project: the project's name, the namespace of its own settings.
        settings: the keys the program reads, without the namespace.
        namespaces: the namespaces of the packages the program uses (`aws`, `pulumi`, ...).

    Returns:
        `<key>: <what is wrong>; <what to do>` for each unknown key, in the order given.
    """
    problems = []
    for key in given:
        namespace, _, name = key.rpartition(":")
        if namespace == project and name not in settings:
            problems.append(f"{key}: no such setting{_suggestion(project, name, settings)}")
        elif namespace not in (project, *namespaces) and closest(namespace, [project]):
            problems.append(f"{key}: {namespace!r} is not this project's namespace ({project!r}), so nothing "
                            f"reads it{_suggestion(project, name, settings)}")
    return problems


def _suggestion(project: str, name: str, settings: Collection[str]) -> str:
    """The closest setting by its name alone (the shared `<project>:` would make every key look close)."""
    match = closest(name, settings)
    if match:
        return f"; did you mean {project}:{match}?"
    return "; remove it (Pulumi.yaml declares every setting, with the structured ones in its closing comment)"
