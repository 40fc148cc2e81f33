"""Shell completion scripts for bash and zsh, generated from numeraudctl's own parser.

The commands that take a handler name (``retry``, ``skip``, ``rewind``, ``pause``, ``resume``, and
``events --handler``) complete the ``[handlers.NAME]`` tables of the configuration (``--config``,
else ``$NUMERAUD_CONFIG``, else /etc/numeraud/numeraud.toml), read by ``sed``: no Python runs.
"""

from __future__ import annotations

import argparse
from typing import Any


def _valued(parser: argparse.ArgumentParser) -> list[str]:
    """Global options that take a value (the word after them is not a command)."""
    return [o for a in parser._actions if a.nargs != 0 for o in a.option_strings]


#: The shell command that lists the handler names of the configuration file "$config".
NAMES = "sed -n 's/^[[:space:]]*\\[handlers\\.\\([A-Za-z0-9_-]*\\)\\][[:space:]]*$/\\1/p' \"$config\" 2>/dev/null"
DEFAULT_CONFIG = "${NUMERAUD_CONFIG:-/etc/numeraud/numeraud.toml}"


def _takes_handler(parser: argparse.ArgumentParser) -> list[str]:
    """The commands whose positional argument is a handler name."""
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands: dict[str, Any] = sub.choices
    return sorted(
        n for n, c in commands.items() if any(a.dest == "handler" and not a.option_strings for a in c._actions)
    )


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
    named = _takes_handler(parser)

    def words(name: str) -> str:
        listed = " ".join(per[name] + choices[name])
        return f"{listed} $({NAMES})" if name in named else listed

    cases = "\n".join(f'        {name}) words="{words(name)}" ;;' for name in sorted(per))
    return f"""# bash completion for numeraudctl (numeraudctl completion bash)
_numeraudctl() {{
    local cur prev command="" words i config="{DEFAULT_CONFIG}"
    cur="${{COMP_WORDS[COMP_CWORD]}}"
    prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    for ((i = 1; i < COMP_CWORD; i++)); do
        case "${{COMP_WORDS[i]}}" in
            --config) config="${{COMP_WORDS[i+1]}}"; ((i++)) ;;
            {"|".join(o for o in _valued(parser) if o != "--config")}) ((i++)) ;;
            -*) ;;
            *) [[ -z "$command" ]] && command="${{COMP_WORDS[i]}}" ;;
        esac
    done
    if [[ "$prev" == --handler ]]; then
        COMPREPLY=($(compgen -W "$({NAMES})" -- "$cur"))
        return
    fi
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
    named = _takes_handler(parser)

    def values(name: str) -> str:
        listed = f"_values -w option {' '.join(per[name] + choices[name]) or '--help'}"
        return f'compadd -- ${{(f)"$({NAMES})"}}; {listed}' if name in named else listed

    cases = "\n".join(f"        {name}) {values(name)} ;;" for name in sorted(per))
    return f"""#compdef numeraudctl
# zsh completion for numeraudctl (numeraudctl completion zsh > "${{fpath[1]}}/_numeraudctl")
_numeraudctl() {{
    local -a commands
    local config="{DEFAULT_CONFIG}" at=${{words[(i)--config]}}
    (( at < CURRENT )) && config=${{words[at+1]}}
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
