import type { Command } from '@commander-js/extra-typings';
import { PsimbolsError } from '../../errors.js';
import { EXIT } from '../exit-codes.js';
import { out, type Io } from '../io.js';

// `psimbols completion bash|zsh|fish` prints a script that completes commands and their flags
// (read from the program's own declarations, so they cannot drift) and, for remove-client and
// rotate-key, the ids of registered clients (`list-clients --ids` at completion time).

type Shape = { readonly commands: readonly string[]; readonly flags: Readonly<Record<string, readonly string[]>> };

const ID_COMMANDS = ['remove-client', 'rotate-key'];

function shapeOf(program: Command<[], Record<string, unknown>>): Shape {
  const flags: Record<string, string[]> = {};
  const global = program.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f && f !== '--version' && f !== '-V'));
  for (const c of program.commands) flags[c.name()] = [...c.options.flatMap((o) => [o.long, o.short].filter((f): f is string => !!f)), ...global, '--help'];
  return { commands: program.commands.map((c) => c.name()), flags };
}

function bash(s: Shape): string {
  const cases = Object.entries(s.flags).map(([c, f]) => `    ${c}) flags="${f.join(' ')}" ;;`).join('\n');
  return `# psimbols completion for bash: eval "$(psimbols completion bash)"
_psimbols() {
  local cur=\${COMP_WORDS[COMP_CWORD]} cmd=\${COMP_WORDS[1]} flags=""
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${s.commands.join(' ')} help" -- "$cur"))
    return
  fi
  case "$cmd" in
${cases}
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  elif [ "$COMP_CWORD" -eq 2 ] && [[ " ${ID_COMMANDS.join(' ')} " == *" $cmd "* ]]; then
    COMPREPLY=($(compgen -W "$(psimbols list-clients --ids 2>/dev/null)" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
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
  lines.push(`complete -c psimbols -n '__fish_seen_subcommand_from ${ID_COMMANDS.join(' ')}' -a '(psimbols list-clients --ids 2>/dev/null)'`);
  return `${lines.join('\n')}\n`;
}

export function completionScript(shell: string, program: Command<[], Record<string, unknown>>): string {
  const s = shapeOf(program);
  if (shell === 'bash') return bash(s);
  // zsh runs the bash script through its bash compatibility layer.
  if (shell === 'zsh') return `# psimbols completion for zsh: eval "$(psimbols completion zsh)"\nautoload -U +X bashcompinit && bashcompinit\n${bash(s)}`;
  if (shell === 'fish') return fish(s);
  throw new PsimbolsError('usage', `no completion for ${JSON.stringify(shell)}: bash, zsh or fish`);
}

export function run(io: Io, shell: string, program: Command<[], Record<string, unknown>>): number {
  out(io, completionScript(shell, program).trimEnd());
  return EXIT.ok;
}
