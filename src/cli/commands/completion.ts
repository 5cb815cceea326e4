import type { Command } from '@commander-js/extra-typings';
import { PsimbolsError } from '../../errors.js';
import { EXIT } from '../exit-codes.js';
import { out, type Io } from '../io.js';

// `psimbols completion bash|zsh|fish` prints a script that completes commands, their flags and
// the values a flag or an argument takes (read from the program's own declarations, so they
// cannot drift), and, for remove-client and rotate-key, the ids of registered clients
// (`list-clients --ids` at completion time, with the --config-dir or -c already typed). The
// script runs the psimbols it came from when none is on PATH (npx), so ids complete there too.

type Shape = {
  readonly commands: readonly string[];
  readonly flags: Readonly<Record<string, readonly string[]>>;
  /** "command flag" (or "command" for its first argument) to the values it takes. */
  readonly values: Readonly<Record<string, readonly string[]>>;
};

const ID_COMMANDS = ['remove-client', 'rotate-key'];
const SHELLS = ['bash', 'zsh', 'fish'];

function shapeOf(program: Command<[], Record<string, unknown>>): Shape {
  const flags: Record<string, string[]> = {};
  const values: Record<string, string[]> = { completion: SHELLS, help: [...new Set([...program.commands.map((c) => c.name()), 'environment'])] };
  const global = program.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f && f !== '--version' && f !== '-V'));
  for (const c of program.commands) {
    flags[c.name()] = [...c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)), ...global, '--help'];
    for (const o of c.options) if (o.argChoices && o.long) values[`${c.name()} ${o.long}`] = o.argChoices;
  }
  return { commands: program.commands.map((c) => c.name()), flags, values };
}

function bash(s: Shape, self: string): string {
  const cases = Object.entries(s.flags).map(([c, f]) => `    ${c}) flags="${f.join(' ')}" ;;`).join('\n');
  const valueCases = Object.entries(s.values).map(([k, v]) => `    "${k}") values="${v.join(' ')}" ;;`).join('\n');
  return `# psimbols completion for bash: eval "$(psimbols completion bash)"
_psimbols() {
  local cur=\${COMP_WORDS[COMP_CWORD]} prev=\${COMP_WORDS[COMP_CWORD-1]} cmd=\${COMP_WORDS[1]} flags="" values="" i
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${s.commands.join(' ')} help" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  # The values of the flag just typed, or of the command's first argument.
  local key="$cmd $prev"
  [ "$COMP_CWORD" -eq 2 ] && [[ "$cur" != -* ]] && key="$cmd"
  case "$key" in
${valueCases}
  esac
  if [ -n "$values" ]; then
    COMPREPLY=($(compgen -W "$values" -- "$cur"))
  elif [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [[ " ${ID_COMMANDS.join(' ')} " == *" $cmd "* ]] && _psimbols_no_id_yet; then
    # The config the command line names, so the ids are that config's.
    local where=()
    for ((i = 1; i < COMP_CWORD; i++)); do
      case "\${COMP_WORDS[i]}" in --config-dir|-c|--config) where+=("\${COMP_WORDS[i]}" "\${COMP_WORDS[i+1]}") ;; esac
    done
    local ps=(psimbols)
    command -v psimbols >/dev/null 2>&1 || ps=(${self})
    COMPREPLY=($(compgen -W "$("\${ps[@]}" "\${where[@]}" list-clients --ids 2>/dev/null)" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
# True while the command has no id yet: every word after it is a flag, or a flag's value.
_psimbols_no_id_yet() {
  local i
  for ((i = 2; i < COMP_CWORD; i++)); do
    case "\${COMP_WORDS[i]}" in
      --config-dir|-c|--config|-o|--output|--key-file) ((i++)) ;;
      -*) ;;
      *) return 1 ;;
    esac
  done
}
complete -F _psimbols psimbols
`;
}

function fish(s: Shape): string {
  const lines = [`# psimbols completion for fish: psimbols completion fish | source`, 'complete -c psimbols -f'];
  lines.push(`complete -c psimbols -n __fish_use_subcommand -a '${s.commands.join(' ')}'`);
  for (const [c, flags] of Object.entries(s.flags)) {
    for (const f of flags.filter((x) => x.startsWith('--'))) lines.push(`complete -c psimbols -n '__fish_seen_subcommand_from ${c}' -l ${f.slice(2)}`);
  }
  for (const [key, v] of Object.entries(s.values)) {
    const [c, flag] = key.split(' ');
    if (flag === undefined) lines.push(`complete -c psimbols -n '__fish_seen_subcommand_from ${c}' -a '${v.join(' ')}'`);
    else lines.push(`complete -c psimbols -n '__fish_seen_subcommand_from ${c}' -l ${flag.slice(2)} -x -a '${v.join(' ')}'`);
  }
  lines.push(`complete -c psimbols -n '__fish_seen_subcommand_from ${ID_COMMANDS.join(' ')}' -a '(psimbols list-clients --ids 2>/dev/null)'`);
  return `${lines.join('\n')}\n`;
}

/** `self`: how to run this psimbols where none is on PATH (the node binary and the launcher, quoted). */
export function completionScript(shell: string, program: Command<[], Record<string, unknown>>, self = 'psimbols'): string {
  const s = shapeOf(program);
  if (shell === 'bash') return bash(s, self);
  // zsh runs the bash script through its bash compatibility layer.
  if (shell === 'zsh') return `# psimbols completion for zsh: eval "$(psimbols completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash(s, self)}`;
  if (shell === 'fish') return fish(s);
  throw new PsimbolsError('usage', `no completion for ${JSON.stringify(shell)}: bash, zsh or fish`);
}

export function run(io: Io, shell: string, program: Command<[], Record<string, unknown>>, self?: string): number {
  out(io, completionScript(shell, program, self).trimEnd());
  return EXIT.ok;
}
