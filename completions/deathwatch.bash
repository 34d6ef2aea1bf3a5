# bash completion for deathwatch(1)
_deathwatch() {
  local cur prev words cword
  _init_completion || return
  local i
  for ((i = 1; i < cword; i++)); do
    if [[ ${words[i]} == -- ]]; then
      # After --: the command and its own arguments.
      _command_offset $((i + 1))
      return
    fi
  done
  if ((cword == 1)) && [[ $cur != -* ]]; then
    COMPREPLY=($(compgen -W 'finalize show' -- "$cur"))
  fi
  case ${words[1]} in
    finalize) _filedir json; return ;;
    show)
      case $prev in --summary) _filedir -d; return ;; esac
      COMPREPLY+=($(compgen -W '--json --summary' -- "$cur")); _filedir json; return ;;
  esac
  case $prev in
    -o | --output | --termination-log | --metrics) _filedir; return ;;
    -p | --pid) _pids; return ;;
    --last-words) COMPREPLY=($(compgen -W 'never abnormal always' -- "$cur")); return ;;
    --mode | --redact | --on-death) return ;;
  esac
  if [[ $cur == -* ]]; then
    COMPREPLY=($(compgen -W '-o --output -q --quiet -v --verbose -p --pid --no-follow --cgroup
      --last-words --mode --redact --kill-with-watcher --journal --termination-log --on-death
      --metrics --version --help --' -- "$cur"))
  fi
} && complete -F _deathwatch deathwatch
