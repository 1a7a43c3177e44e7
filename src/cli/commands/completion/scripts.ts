/**
 * The completion scripts `keystack completion SHELL` prints: each calls the hidden `keystack
 * __complete -- WORD…` on Tab and offers what it prints.
 */
export const SHELLS = ['bash', 'zsh', 'fish'] as const;
export type Shell = (typeof SHELLS)[number];

export const SCRIPTS: Record<Shell, string> = {
  bash: `# keystack completion for bash. Load it with: source <(keystack completion bash)
_keystack_complete() {
  local IFS=$'\\n'
  COMPREPLY=($(keystack __complete -- "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null))
}
complete -o default -F _keystack_complete keystack
`,
  zsh: `#compdef keystack
# keystack completion for zsh. Load it with: source <(keystack completion zsh)  (after compinit)
_keystack() {
  local -a candidates
  candidates=("\${(@f)$(keystack __complete -- "\${(@)words[2,CURRENT]}" 2>/dev/null)}")
  candidates=(\${candidates:#})
  (( \${#candidates} )) && compadd -- "\${candidates[@]}" || _files
}
compdef _keystack keystack
`,
  fish: `# keystack completion for fish. Install it with: keystack completion fish > ~/.config/fish/completions/keystack.fish
function __keystack_complete
    set -l words (commandline -opc)
    set -l current (commandline -ct)
    keystack __complete -- $words[2..-1] "$current" 2>/dev/null
end
complete -c keystack -f -a '(__keystack_complete)'
`,
};
