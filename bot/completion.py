"""Shell completion: the scripts ``procbot completion bash|zsh`` prints, and the words ``procbot _complete`` finds.

The scripts are written from the command catalog when asked, so a new verb or
argument kind completes without editing them: the verbs and aliases, what
each argument position takes (a program, a target, a signal name, a verb),
and the CLI's own commands. Program and group names come from the running
daemon: the script calls the hidden ``procbot _complete VERB``, which asks
the daemon for ``status`` over the control socket (a local read-only call:
not audited) with a short timeout and no retries, and prints nothing at all
when no daemon answers, so a TAB never hangs or prints an error into the
command line. Like the CLI, this module imports only the catalog.
"""

from __future__ import annotations

from core.commands.catalog import ALIASES, PROGRAM, SIGNAL, SIGNALS, TARGET, TOPIC, VERBS, lookup

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: commands only the CLI has (bot/cli.py), and the word each one's first argument takes
HOST_COMMANDS = {"run": "", "check-config": "", "discord-invite": "", "completion": "shell"}
SHELLS = ("bash", "zsh")
#: options a word starting with ``-`` may complete to
OPTIONS = ("--json", "--public", "--raw", "--follow", "--config", "--host", "--help")
#: how long a TAB waits for the daemon before it completes nothing
TIMEOUT = 2.0


def _kind_cases() -> str:
    """A shell ``case`` mapping ``verb:position`` to the argument kind there (the same text in bash and zsh)."""
    lines = []
    for verb in VERBS:
        names = [verb.name, *verb.aliases]
        for pos, arg in enumerate(verb.args):
            if arg.kind in (TARGET, PROGRAM, SIGNAL, TOPIC):
                lines.append(f"        {'|'.join(f'{n}:{pos}' for n in names)}) echo {arg.kind} ;;")
    lines += [f"        {name}:0) echo {kind} ;;" for name, kind in HOST_COMMANDS.items() if kind]
    return "\n".join(lines)


def _verbs() -> str:
    return " ".join([*HOST_COMMANDS, *(v.name for v in VERBS), *ALIASES])


_KIND_FUNCTION = """_procbot_kind() {
    case "$1:$2" in
%(cases)s
    esac
}
"""

BASH = """# procbot completion for bash: source <(procbot completion bash)
_procbot_verbs="%(verbs)s"
_procbot_topics="%(topics)s"
_procbot_signals="%(signals)s"
_procbot_shells="%(shells)s"
_procbot_options="%(options)s"
%(kind)s
_procbot() {
    # bash splits group:NAME at the colon (COMP_WORDBREAKS): join the pieces back into words
    local -a words=()
    local i w cword=0 joined=0
    for ((i = 0; i < ${#COMP_WORDS[@]}; i++)); do
        w=${COMP_WORDS[i]}
        if ((i > 0)) && [[ $w == : || ($joined == 1 && ${words[-1]} == *:) ]]; then
            words[-1]+=$w
            joined=1
        else
            words+=("$w")
            joined=0
        fi
        ((i == COMP_CWORD)) && cword=$((${#words[@]} - 1))
    done
    local cur=${words[cword]} verb="" pos=0
    local -a cfg=()
    for ((i = 1; i < cword; i++)); do
        w=${words[i]}
        case $w in
            -c|--config) cfg=(-c "${words[i+1]}"); ((i++)); continue ;;
            -H|--host) ((i++)); continue ;;
            --config=*) cfg=(-c "${w#--config=}"); continue ;;
            -*) continue ;;
        esac
        if [[ -z $verb ]]; then verb=$w; else ((pos++)); fi
    done
    COMPREPLY=()
    case ${words[cword-1]} in
        -c|--config) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        -H|--host) return ;;
    esac
    local choices=""
    if [[ $cur == -* ]]; then
        choices=$_procbot_options
    elif [[ -z $verb ]]; then
        choices=$_procbot_verbs
    else
        case $(_procbot_kind "$verb" "$pos") in
            target|program) choices=$("${words[0]}" "${cfg[@]}" _complete "$verb" 2>/dev/null) ;;
            signal) choices=$_procbot_signals ;;
            topic) choices=$_procbot_topics ;;
            shell) choices=$_procbot_shells ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$choices" -- "$cur"))
    # bash replaces only what follows the last colon: offer that part
    if [[ $cur == *:* ]]; then
        local head=${cur%%"${cur##*:}"}
        for i in "${!COMPREPLY[@]}"; do COMPREPLY[i]=${COMPREPLY[i]#"$head"}; done
    fi
}
complete -F _procbot procbot
"""

ZSH = """#compdef procbot
# procbot completion for zsh: source <(procbot completion zsh)  (after compinit)
_procbot_verbs=(%(verbs)s)
_procbot_topics=(%(topics)s)
_procbot_signals=(%(signals)s)
_procbot_shells=(%(shells)s)
_procbot_options=(%(options)s)
%(kind)s
_procbot() {
    local verb="" w i pos=0
    local -a cfg
    for ((i = 2; i < CURRENT; i++)); do
        w=${words[i]}
        case $w in
            -c|--config) cfg=(-c "${words[i+1]}"); ((i++)); continue ;;
            -H|--host) ((i++)); continue ;;
            --config=*) cfg=(-c "${w#--config=}"); continue ;;
            -*) continue ;;
        esac
        if [[ -z $verb ]]; then verb=$w; else ((pos++)); fi
    done
    case ${words[CURRENT-1]} in
        -c|--config) _files; return ;;
        -H|--host) return ;;
    esac
    if [[ ${words[CURRENT]} == -* ]]; then
        compadd -- $_procbot_options
    elif [[ -z $verb ]]; then
        compadd -- $_procbot_verbs
    else
        case $(_procbot_kind "$verb" "$pos") in
            target|program) compadd -- ${(f)"$(${words[1]} $cfg _complete $verb 2>/dev/null)"} ;;
            signal) compadd -- $_procbot_signals ;;
            topic) compadd -- $_procbot_topics ;;
            shell) compadd -- $_procbot_shells ;;
        esac
    fi
}
if [[ $funcstack[1] == _procbot ]]; then
    _procbot "$@"
else
    compdef _procbot procbot
fi
"""


def script(shell: str) -> str:
    """The completion script for ``shell`` (one of SHELLS)."""
    template = {"bash": BASH, "zsh": ZSH}[shell]
    return template % {"verbs": _verbs(), "topics": " ".join(v.name for v in VERBS),
                       "signals": " ".join(SIGNALS), "shells": " ".join(SHELLS), "options": " ".join(OPTIONS),
                       "kind": _KIND_FUNCTION % {"cases": _kind_cases()}}


def words_for(what: str, programs: list[dict[str, Any]]) -> list[str]:
    """What completes ``what`` (a verb's first argument, or ``programs`` / ``groups``), from ``status`` rows."""
    names = [str(p["name"]) for p in programs]
    groups = sorted({f"group:{p['group']}" for p in programs if p.get("group")})
    if what == "programs":
        return names
    if what == "groups":
        return groups
    verb = lookup(what)
    if verb is None or not verb.args or verb.args[0].kind not in (TARGET, PROGRAM):
        return []
    if verb.managed_only:
        names = [str(p["name"]) for p in programs if p.get("kind") == "managed"]
    if verb.args[0].kind == PROGRAM:
        return names
    return [*names, *groups, "all"]
