"""Shell completion scripts for bash and zsh, generated from numeraudctl's own parser."""

from __future__ import annotations

import argparse
from typing import Any


def _valued(parser: argparse.ArgumentParser) -> list[str]:
    """Global options that take a value (the word after them is not a command)."""
    return [o for a in parser._actions if a.nargs != 0 for o in a.option_strings]


def _tree(parser: argparse.ArgumentParser) -> tuple[list[str], dict[str, list[str]], dict[str, list[str]]]:
    """(global options, command → its options, command → its choices)."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    options = [o for a in parser._actions for o in a.option_strings if a.help != argparse.SUPPRESS]
    per: dict[str, list[str]] = {}
    choices: dict[str, list[str]] = {}
    commands: dict[str, Any] = sub.choices
    for name, child in commands.items():
        per[name] = [o for a in child._actions for o in a.option_strings if a.help != argparse.SUPPRESS]
        choices[name] = [str(c) for a in child._actions if not a.option_strings and a.choices for c in a.choices]
    return options, per, choices


def bash(parser: argparse.ArgumentParser) -> str:
    """A bash completion script (``complete -F``)."""
    options, per, choices = _tree(parser)
    cases = "\n".join(f'        {name}) words="{" ".join(per[name] + choices[name])}" ;;' for name in sorted(per))
    return f"""# bash completion for numeraudctl (numeraudctl completion bash)
_numeraudctl() {{
    local cur command="" words i
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            {"|".join(_valued(parser))}) ((i++)) ;;
            -*) ;;
            *) command="${{COMP_WORDS[i]}}"; break ;;
        esac
    done
    case "$command" in
        "") words="{" ".join(sorted(per))} {" ".join(options)}" ;;
{cases}
    esac
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
}}
complete -F _numeraudctl numeraudctl"""


def zsh(parser: argparse.ArgumentParser) -> str:
    """A zsh completion script (``#compdef``)."""
    options, per, choices = _tree(parser)
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: (a.help or "") for a in sub._choices_actions}
    described = " ".join(f"'{name}:{helps.get(name, '').replace(chr(39), '')}'" for name in sorted(per))
    cases = "\n".join(
        f"        {name}) _values -w option {' '.join(per[name] + choices[name]) or '--help'} ;;"
        for name in sorted(per)
    )
    return f"""#compdef numeraudctl
# zsh completion for numeraudctl (numeraudctl completion zsh > "${{fpath[1]}}/_numeraudctl")
_numeraudctl() {{
    local -a commands
    commands=({described})
    if (( CURRENT == 2 )); then
        _describe command commands
        compadd -- {" ".join(options)}
        return
    fi
    case $words[2] in
{cases}
    esac
}}
_numeraudctl "$@\""""


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    """The completion script for ``shell`` (bash or zsh)."""
    return bash(parser) if shell == "bash" else zsh(parser)
