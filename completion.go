package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func completionCommand() *cli.Command {
	return &cli.Command{
		Name:      "completion",
		Usage:     "print a shell completion script: bash, zsh or fish",
		ArgsUsage: "bash|zsh|fish",
		Description: `Completes commands, subcommands and flags (the binary lists them itself):

   source <(sparkevents completion bash)                              # bash, this shell
   sparkevents completion bash > /etc/bash_completion.d/sparkevents   # bash, every shell
   sparkevents completion zsh > "${fpath[1]}/_sparkevents"            # zsh
   sparkevents completion fish > ~/.config/fish/completions/sparkevents.fish`,
		Action: func(c *cli.Context) error {
			args, err := positional(c, "SHELL")
			if err != nil {
				return err
			}
			if len(args) != 1 {
				return usageErr("completion needs one SHELL: bash, zsh or fish")
			}
			switch args[0] {
			case "bash":
				_, err = fmt.Fprint(c.App.Writer, bashCompletion)
			case "zsh":
				_, err = fmt.Fprint(c.App.Writer, zshCompletion)
			case "fish":
				var script string
				if script, err = c.App.ToFishCompletion(); err == nil {
					_, err = fmt.Fprint(c.App.Writer, script)
				}
			default:
				return usageErr("no completion for %q: bash, zsh or fish", args[0])
			}
			return err
		},
	}
}

// bashCompletion and zshCompletion ask the binary for the words that may
// come next (urfave/cli's --generate-bash-completion), as urfave/cli's own
// scripts do.
const bashCompletion = `# bash completion for sparkevents
_sparkevents_complete() {
  local cur words
  COMPREPLY=()
  cur="${COMP_WORDS[COMP_CWORD]}"
  if [[ "$cur" == -* ]]; then
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" "$cur" --generate-bash-completion 2>/dev/null)
  else
    words=$("${COMP_WORDS[@]:0:$COMP_CWORD}" --generate-bash-completion 2>/dev/null)
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -o bashdefault -o default -F _sparkevents_complete sparkevents
`

const zshCompletion = `#compdef sparkevents
_sparkevents() {
  local -a opts
  local cur=${words[-1]}
  if [[ "$cur" == -* ]]; then
    opts=("${(@f)$(${words[@]:0:#words[@]-1} ${cur} --generate-bash-completion 2>/dev/null)}")
  else
    opts=("${(@f)$(${words[@]:0:#words[@]-1} --generate-bash-completion 2>/dev/null)}")
  fi
  if [[ "${opts[1]}" != "" ]]; then
    _describe 'values' opts
  else
    _files
  fi
}
if [ "$funcstack[1]" = "_sparkevents" ]; then
  _sparkevents "$@"
else
  compdef _sparkevents sparkevents
fi
`
