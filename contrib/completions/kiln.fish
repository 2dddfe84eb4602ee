# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_kiln_global_optspecs
    string join \n h/help V/version
end

function __fish_kiln_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_kiln_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_kiln_using_subcommand
    set -l cmd (__fish_kiln_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c kiln -n "__fish_kiln_needs_command" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_needs_command" -s V -l version -d 'Print version'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "build" -d 'Build the selected targets (only what changed). `kiln build ./...` builds every project under the directory in one graph'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "plan" -d 'Show the step graph of the selected targets without running anything'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "run" -d 'Build what is stale, then boot the selected target'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "ps" -d 'List machines'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "logs" -d 'Print a machine\'s serial console'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "stop" -d 'Stop machines (QMP quit, then SIGTERM, then SIGKILL). Stopping a stopped one is fine'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "rm" -d 'Stop and remove machines'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "lock" -d 'Resolve every source and write Kraftfile.lock (commit it)'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "fetch" -d 'Download everything the selected targets need (component sources and the upstream archives their libraries fetch), so that `kiln build --offline` works afterwards'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "pkg" -d 'Build what is stale and package it as an OCI image (kraft\'s or urunc\'s format); also list, remove, export, push and pull packages'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "login" -d 'Log in to a registry: the password is read from stdin, checked against the registry, and stored in kiln\'s config directory (mode 0600)'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "man" -d 'Print kiln\'s manual page (roff) on stdout, or write one page per command into DIR'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "cache" -d 'Inspect and maintain the local cache'
complete -c kiln -n "__fish_kiln_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kiln -n "__fish_kiln_using_subcommand build" -s K -l kraftfile -d 'The Kraftfile to use instead of searching DIR' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand build" -l plat -d 'Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -s m -l arch -d 'Only targets for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -s t -l target -d 'Only the target with this name (or plat/arch)' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -l source -d 'Take component NAME (`unikraft`, a library\'s name, `template`) from PATH or URL (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -l build-arg -d 'Set a Dockerfile rootfs\'s ARG (`NAME=VALUE`; `NAME` alone takes the environment\'s). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand build" -l remote-cache -d 'The team\'s remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config\'s token_file / token_env' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -l remote-upload -d 'Upload results of steps that ran (false: only take hits)' -r -f -a "true\t''
false\t''"
complete -c kiln -n "__fish_kiln_using_subcommand build" -l distribute -d 'Spread the kernel\'s C compiles over other machines with icecream (icecc), or `off` (the config\'s [distribute] gives the default)' -r -f -a "icecc\t'icecream: ships this machine\'s compiler to its workers'
off\t'Compile here'"
complete -c kiln -n "__fish_kiln_using_subcommand build" -s j -l jobs -d 'Run at most N steps at once (default: the number of cores)' -r
complete -c kiln -n "__fish_kiln_using_subcommand build" -l progress -d 'How to show progress on stderr' -r -f -a "auto\t'Live lines on a terminal, plain lines elsewhere'
tty\t'Live lines redrawn in place (even when stderr is not a terminal)'
plain\t'Whole lines only, and every 10 s a line for each step still running (CI logs)'
none\t'No progress lines; errors and results still print'"
complete -c kiln -n "__fish_kiln_using_subcommand build" -l trace -d 'Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome://tracing)' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand build" -l offline -d 'Never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand build" -l locked -d 'Fail if Kraftfile.lock is missing a source or would change (for CI)'
complete -c kiln -n "__fish_kiln_using_subcommand build" -l remote-required -d 'Fail when the remote cache is unavailable, instead of building locally'
complete -c kiln -n "__fish_kiln_using_subcommand build" -l no-remote -d 'Do not use a remote cache, even if one is configured'
complete -c kiln -n "__fish_kiln_using_subcommand build" -l explain -d 'Say why each step ran, was taken from the cache, or was up to date'
complete -c kiln -n "__fish_kiln_using_subcommand build" -s v -l verbose -d 'Stream the output of the tools steps run (make), prefixed with the target'
complete -c kiln -n "__fish_kiln_using_subcommand build" -s k -l keep-going -d 'After a step fails, go on building everything that does not depend on it, and list the failures at the end'
complete -c kiln -n "__fish_kiln_using_subcommand build" -l check -d 'Rebuild every selected action step in a scratch directory, ignoring the caches, and compare its outputs bit for bit with the cached ones (exit 1 on a difference)'
complete -c kiln -n "__fish_kiln_using_subcommand build" -l watch -d 'After the build, rebuild whenever a source the build reads changes'
complete -c kiln -n "__fish_kiln_using_subcommand build" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand plan" -s K -l kraftfile -d 'The Kraftfile to use instead of searching DIR' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l plat -d 'Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -s m -l arch -d 'Only targets for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -s t -l target -d 'Only the target with this name (or plat/arch)' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l source -d 'Take component NAME (`unikraft`, a library\'s name, `template`) from PATH or URL (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l build-arg -d 'Set a Dockerfile rootfs\'s ARG (`NAME=VALUE`; `NAME` alone takes the environment\'s). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l remote-cache -d 'The team\'s remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config\'s token_file / token_env' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l remote-upload -d 'Upload results of steps that ran (false: only take hits)' -r -f -a "true\t''
false\t''"
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l distribute -d 'Spread the kernel\'s C compiles over other machines with icecream (icecc), or `off` (the config\'s [distribute] gives the default)' -r -f -a "icecc\t'icecream: ships this machine\'s compiler to its workers'
off\t'Compile here'"
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l name -d 'Include the package steps `kiln pkg --name REF` would run' -r
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l format -d 'The package format (with --name)' -r -f -a "kraftkit\t'kraft\'s layout: what `kraft run` and `kraft pkg pull` take'
urunc\t'What urunc (containerd\'s unikernel runtime) boots'"
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l offline -d 'Never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l locked -d 'Fail if Kraftfile.lock is missing a source or would change (for CI)'
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l remote-required -d 'Fail when the remote cache is unavailable, instead of building locally'
complete -c kiln -n "__fish_kiln_using_subcommand plan" -l no-remote -d 'Do not use a remote cache, even if one is configured'
complete -c kiln -n "__fish_kiln_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand run" -s K -l kraftfile -d 'The Kraftfile to use instead of searching DIR' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand run" -l plat -d 'Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s m -l arch -d 'Only targets for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s t -l target -d 'Only the target with this name (or plat/arch)' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -l source -d 'Take component NAME (`unikraft`, a library\'s name, `template`) from PATH or URL (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -l build-arg -d 'Set a Dockerfile rootfs\'s ARG (`NAME=VALUE`; `NAME` alone takes the environment\'s). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand run" -l remote-cache -d 'The team\'s remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config\'s token_file / token_env' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -l remote-upload -d 'Upload results of steps that ran (false: only take hits)' -r -f -a "true\t''
false\t''"
complete -c kiln -n "__fish_kiln_using_subcommand run" -l distribute -d 'Spread the kernel\'s C compiles over other machines with icecream (icecc), or `off` (the config\'s [distribute] gives the default)' -r -f -a "icecc\t'icecream: ships this machine\'s compiler to its workers'
off\t'Compile here'"
complete -c kiln -n "__fish_kiln_using_subcommand run" -s M -l memory -d 'Memory, e.g. 64M, 1G' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s p -l port -d 'Forward a host port to the guest: HOST:GUEST, [IP:]HOST:GUEST[/udp]' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s v -l volume -d 'Share a host directory with the guest over 9p: HOST:GUEST[:ro]' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s e -l env -d 'Set an environment variable in the guest: K=V, or K to take the host\'s value' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -l name -d 'The machine\'s name (default: generated)' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -l accel -d 'Acceleration: auto (KVM only where it really works), kvm, tcg' -r -f -a "auto\t'KVM only where it really works, else TCG'
kvm\t'KVM, or fail'
tcg\t'Software emulation'"
complete -c kiln -n "__fish_kiln_using_subcommand run" -l timeout -d 'Stop the machine and fail after this long (e.g. 30s, 2m)' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -s j -l jobs -d 'Run at most N build steps at once' -r
complete -c kiln -n "__fish_kiln_using_subcommand run" -l progress -d 'How to show progress on stderr' -r -f -a "auto\t'Live lines on a terminal, plain lines elsewhere'
tty\t'Live lines redrawn in place (even when stderr is not a terminal)'
plain\t'Whole lines only, and every 10 s a line for each step still running (CI logs)'
none\t'No progress lines; errors and results still print'"
complete -c kiln -n "__fish_kiln_using_subcommand run" -l trace -d 'Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome://tracing)' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand run" -l offline -d 'Never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand run" -l locked -d 'Fail if Kraftfile.lock is missing a source or would change (for CI)'
complete -c kiln -n "__fish_kiln_using_subcommand run" -l remote-required -d 'Fail when the remote cache is unavailable, instead of building locally'
complete -c kiln -n "__fish_kiln_using_subcommand run" -l no-remote -d 'Do not use a remote cache, even if one is configured'
complete -c kiln -n "__fish_kiln_using_subcommand run" -s d -l detach -d 'Run in the background and print the machine\'s name'
complete -c kiln -n "__fish_kiln_using_subcommand run" -l rm -d 'Remove the machine when it stops'
complete -c kiln -n "__fish_kiln_using_subcommand run" -s W -l disable-acceleration -d 'Disable acceleration (the same as --accel tcg)'
complete -c kiln -n "__fish_kiln_using_subcommand run" -l verbose -d 'Stream the output of the tools build steps run (make), prefixed with the target'
complete -c kiln -n "__fish_kiln_using_subcommand run" -l watch -d 'Rebuild when a source changes and boot the new kernel (QMP quit, then start again with the same flags); a failed rebuild keeps the running machine'
complete -c kiln -n "__fish_kiln_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand ps" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand ps" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand logs" -s f -l follow -d 'Keep printing as the console grows, until the machine stops'
complete -c kiln -n "__fish_kiln_using_subcommand logs" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand stop" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand rm" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand lock" -s K -l kraftfile -d 'The Kraftfile to use instead of searching DIR' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l plat -d 'Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)' -r
complete -c kiln -n "__fish_kiln_using_subcommand lock" -s m -l arch -d 'Only targets for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand lock" -s t -l target -d 'Only the target with this name (or plat/arch)' -r
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l source -d 'Take component NAME (`unikraft`, a library\'s name, `template`) from PATH or URL (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l build-arg -d 'Set a Dockerfile rootfs\'s ARG (`NAME=VALUE`; `NAME` alone takes the environment\'s). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand lock" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l remote-cache -d 'The team\'s remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config\'s token_file / token_env' -r
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l remote-upload -d 'Upload results of steps that ran (false: only take hits)' -r -f -a "true\t''
false\t''"
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l distribute -d 'Spread the kernel\'s C compiles over other machines with icecream (icecc), or `off` (the config\'s [distribute] gives the default)' -r -f -a "icecc\t'icecream: ships this machine\'s compiler to its workers'
off\t'Compile here'"
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l offline -d 'Never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l locked -d 'Fail if Kraftfile.lock is missing a source or would change (for CI)'
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l remote-required -d 'Fail when the remote cache is unavailable, instead of building locally'
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l no-remote -d 'Do not use a remote cache, even if one is configured'
complete -c kiln -n "__fish_kiln_using_subcommand lock" -l update -d 'Resolve every version afresh (newest `stable`, branch heads) instead of keeping the commits the lock pins'
complete -c kiln -n "__fish_kiln_using_subcommand lock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s K -l kraftfile -d 'The Kraftfile to use instead of searching DIR' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l plat -d 'Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s m -l arch -d 'Only targets for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s t -l target -d 'Only the target with this name (or plat/arch)' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l source -d 'Take component NAME (`unikraft`, a library\'s name, `template`) from PATH or URL (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l build-arg -d 'Set a Dockerfile rootfs\'s ARG (`NAME=VALUE`; `NAME` alone takes the environment\'s). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l remote-cache -d 'The team\'s remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config\'s token_file / token_env' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l remote-upload -d 'Upload results of steps that ran (false: only take hits)' -r -f -a "true\t''
false\t''"
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l distribute -d 'Spread the kernel\'s C compiles over other machines with icecream (icecc), or `off` (the config\'s [distribute] gives the default)' -r -f -a "icecc\t'icecream: ships this machine\'s compiler to its workers'
off\t'Compile here'"
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s j -l jobs -d 'Run at most N steps at once (default: the number of cores)' -r
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l progress -d 'How to show progress on stderr' -r -f -a "auto\t'Live lines on a terminal, plain lines elsewhere'
tty\t'Live lines redrawn in place (even when stderr is not a terminal)'
plain\t'Whole lines only, and every 10 s a line for each step still running (CI logs)'
none\t'No progress lines; errors and results still print'"
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l trace -d 'Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome://tracing)' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l offline -d 'Never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l locked -d 'Fail if Kraftfile.lock is missing a source or would change (for CI)'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l remote-required -d 'Fail when the remote cache is unavailable, instead of building locally'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l no-remote -d 'Do not use a remote cache, even if one is configured'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l explain -d 'Say why each step ran, was taken from the cache, or was up to date'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s v -l verbose -d 'Stream the output of the tools steps run (make), prefixed with the target'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s k -l keep-going -d 'After a step fails, go on building everything that does not depend on it, and list the failures at the end'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -l refresh -d 'Download every URL again, even if the cache has it, to find a server that now sends other bytes than Kraftfile.lock pins (with --locked, that is an error)'
complete -c kiln -n "__fish_kiln_using_subcommand fetch" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s K -l kraftfile -d 'The Kraftfile to use instead of searching DIR' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l plat -d 'Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s m -l arch -d 'Only targets for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s t -l target -d 'Only the target with this name (or plat/arch)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l source -d 'Take component NAME (`unikraft`, a library\'s name, `template`) from PATH or URL (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l build-arg -d 'Set a Dockerfile rootfs\'s ARG (`NAME=VALUE`; `NAME` alone takes the environment\'s). Repeatable' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l remote-cache -d 'The team\'s remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config\'s token_file / token_env' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l remote-upload -d 'Upload results of steps that ran (false: only take hits)' -r -f -a "true\t''
false\t''"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l distribute -d 'Spread the kernel\'s C compiles over other machines with icecream (icecc), or `off` (the config\'s [distribute] gives the default)' -r -f -a "icecc\t'icecream: ships this machine\'s compiler to its workers'
off\t'Compile here'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s j -l jobs -d 'Run at most N steps at once (default: the number of cores)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l progress -d 'How to show progress on stderr' -r -f -a "auto\t'Live lines on a terminal, plain lines elsewhere'
tty\t'Live lines redrawn in place (even when stderr is not a terminal)'
plain\t'Whole lines only, and every 10 s a line for each step still running (CI logs)'
none\t'No progress lines; errors and results still print'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l trace -d 'Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome://tracing)' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l name -d 'The package\'s name, [REGISTRY/]NAME[:TAG] (default: the project\'s name, tag latest)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l format -d 'The package format' -r -f -a "kraftkit\t'kraft\'s layout: what `kraft run` and `kraft pkg pull` take'
urunc\t'What urunc (containerd\'s unikernel runtime) boots'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l offline -d 'Never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l locked -d 'Fail if Kraftfile.lock is missing a source or would change (for CI)'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l remote-required -d 'Fail when the remote cache is unavailable, instead of building locally'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l no-remote -d 'Do not use a remote cache, even if one is configured'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l explain -d 'Say why each step ran, was taken from the cache, or was up to date'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s v -l verbose -d 'Stream the output of the tools steps run (make), prefixed with the target'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s k -l keep-going -d 'After a step fails, go on building everything that does not depend on it, and list the failures at the end'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -l push -d 'Push the package to its registry afterwards'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -a "ls" -d 'List the packages kiln keeps'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -a "rm" -d 'Forget packages (their blobs go with the next `kiln cache gc`)'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -a "export" -d 'Write a package as an OCI image layout (for skopeo `oci:DIR:TAG`, umoci, containerd)'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -a "push" -d 'Push a package to its registry'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -a "pull" -d 'Pull a package from its registry into kiln\'s store'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and not __fish_seen_subcommand_from ls rm export push pull help" -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from ls" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from ls" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from rm" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from export" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from push" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from push" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from pull" -s w -l workdir -d 'Also unpack the kernel and initrd into DIR/unikraft/bin/, where `kraft pkg pull -w` puts them' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from pull" -l plat -d 'Only manifests for this platform (qemu, fc, xen)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from pull" -s m -l arch -d 'Only manifests for this architecture (x86_64, arm64, arm)' -r
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from pull" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from pull" -l offline -d 'Use only what kiln already has; never touch the network'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from pull" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from help" -f -a "ls" -d 'List the packages kiln keeps'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from help" -f -a "rm" -d 'Forget packages (their blobs go with the next `kiln cache gc`)'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from help" -f -a "export" -d 'Write a package as an OCI image layout (for skopeo `oci:DIR:TAG`, umoci, containerd)'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from help" -f -a "push" -d 'Push a package to its registry'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from help" -f -a "pull" -d 'Pull a package from its registry into kiln\'s store'
complete -c kiln -n "__fish_kiln_using_subcommand pkg; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kiln -n "__fish_kiln_using_subcommand login" -s u -l username -d 'The user name' -r
complete -c kiln -n "__fish_kiln_using_subcommand login" -l password-stdin -d 'Read the password (or token) from stdin; the only way to give it'
complete -c kiln -n "__fish_kiln_using_subcommand login" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand completions" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand man" -l dir -d 'Write kiln.1 and kiln-<command>.1 into this directory instead' -r -F
complete -c kiln -n "__fish_kiln_using_subcommand man" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and not __fish_seen_subcommand_from stats gc verify clean help" -s h -l help -d 'Print help'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and not __fish_seen_subcommand_from stats gc verify clean help" -f -a "stats" -d 'Show the cache\'s location, entry counts and size'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and not __fish_seen_subcommand_from stats gc verify clean help" -f -a "gc" -d 'Remove least recently used entries until the cache fits in SIZE'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and not __fish_seen_subcommand_from stats gc verify clean help" -f -a "verify" -d 'Re-hash every entry and drop the damaged ones'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and not __fish_seen_subcommand_from stats gc verify clean help" -f -a "clean" -d 'Remove everything from the cache'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and not __fish_seen_subcommand_from stats gc verify clean help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from stats" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from stats" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from gc" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from gc" -l max-size -d 'The size to shrink to, e.g. 10G, 500M' -r
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from gc" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from verify" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from clean" -s o -l output -d 'Output format' -r -f -a "human\t'Text for people'
json\t'JSON on stdout, stable and documented in README.md'"
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from clean" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "stats" -d 'Show the cache\'s location, entry counts and size'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "gc" -d 'Remove least recently used entries until the cache fits in SIZE'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "verify" -d 'Re-hash every entry and drop the damaged ones'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "clean" -d 'Remove everything from the cache'
complete -c kiln -n "__fish_kiln_using_subcommand cache; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "build" -d 'Build the selected targets (only what changed). `kiln build ./...` builds every project under the directory in one graph'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "plan" -d 'Show the step graph of the selected targets without running anything'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "run" -d 'Build what is stale, then boot the selected target'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "ps" -d 'List machines'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "logs" -d 'Print a machine\'s serial console'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "stop" -d 'Stop machines (QMP quit, then SIGTERM, then SIGKILL). Stopping a stopped one is fine'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "rm" -d 'Stop and remove machines'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "lock" -d 'Resolve every source and write Kraftfile.lock (commit it)'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "fetch" -d 'Download everything the selected targets need (component sources and the upstream archives their libraries fetch), so that `kiln build --offline` works afterwards'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "pkg" -d 'Build what is stale and package it as an OCI image (kraft\'s or urunc\'s format); also list, remove, export, push and pull packages'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "login" -d 'Log in to a registry: the password is read from stdin, checked against the registry, and stored in kiln\'s config directory (mode 0600)'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "completions" -d 'Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "man" -d 'Print kiln\'s manual page (roff) on stdout, or write one page per command into DIR'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "cache" -d 'Inspect and maintain the local cache'
complete -c kiln -n "__fish_kiln_using_subcommand help; and not __fish_seen_subcommand_from build plan run ps logs stop rm lock fetch pkg login completions man cache help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from pkg" -f -a "ls" -d 'List the packages kiln keeps'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from pkg" -f -a "rm" -d 'Forget packages (their blobs go with the next `kiln cache gc`)'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from pkg" -f -a "export" -d 'Write a package as an OCI image layout (for skopeo `oci:DIR:TAG`, umoci, containerd)'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from pkg" -f -a "push" -d 'Push a package to its registry'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from pkg" -f -a "pull" -d 'Pull a package from its registry into kiln\'s store'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "stats" -d 'Show the cache\'s location, entry counts and size'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "gc" -d 'Remove least recently used entries until the cache fits in SIZE'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "verify" -d 'Re-hash every entry and drop the damaged ones'
complete -c kiln -n "__fish_kiln_using_subcommand help; and __fish_seen_subcommand_from cache" -f -a "clean" -d 'Remove everything from the cache'
