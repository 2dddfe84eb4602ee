#compdef kiln

autoload -U is-at-least

_kiln() {
    typeset -A opt_args
    typeset -a _arguments_options
    local ret=1

    if is-at-least 5.2; then
        _arguments_options=(-s -S -C)
    else
        _arguments_options=(-s -C)
    fi

    local context curcontext="$curcontext" state line
    _arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'-V[Print version]' \
'--version[Print version]' \
":: :_kiln_commands" \
"*::: :->kiln" \
&& ret=0
    case $state in
    (kiln)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-command-$line[1]:"
        case $line[1] in
            (build)
_arguments "${_arguments_options[@]}" : \
'-K+[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--kraftfile=[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--plat=[Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)]:PLAT:_default' \
'-m+[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-t+[Only the target with this name (or plat/arch)]:NAME:_default' \
'--target=[Only the target with this name (or plat/arch)]:NAME:_default' \
'*--source=[Take component NAME (\`unikraft\`, a library'\''s name, \`template\`) from PATH or URL (\`URL@VERSION\` or \`URL?branch=B\` pick a version). Repeatable]:NAME=PATH|URL:_default' \
'*--build-arg=[Set a Dockerfile rootfs'\''s ARG (\`NAME=VALUE\`; \`NAME\` alone takes the environment'\''s). Repeatable]:NAME=VALUE:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--remote-cache=[The team'\''s remote cache\: http(s)\://HOST\[\:PORT\]\[/PREFIX\] (Bazel HTTP protocol\: nginx WebDAV, bazel-remote) or grpc(s)\://HOST\[\:PORT\] (REAPI\: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config'\''s token_file / token_env]:URL:_default' \
'--remote-upload=[Upload results of steps that ran (false\: only take hits)]::BOOL:(true false)' \
'--distribute=[Spread the kernel'\''s C compiles over other machines with icecream (icecc), or \`off\` (the config'\''s \[distribute\] gives the default)]::ENGINE:((icecc\:"icecream\: ships this machine'\''s compiler to its workers"
off\:"Compile here"))' \
'-j+[Run at most N steps at once (default\: the number of cores)]:N:_default' \
'--jobs=[Run at most N steps at once (default\: the number of cores)]:N:_default' \
'--progress=[How to show progress on stderr]:MODE:((auto\:"Live lines on a terminal, plain lines elsewhere"
tty\:"Live lines redrawn in place (even when stderr is not a terminal)"
plain\:"Whole lines only, and every 10 s a line for each step still running (CI logs)"
none\:"No progress lines; errors and results still print"))' \
'--trace=[Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome\://tracing)]:FILE:_files' \
'--offline[Never touch the network]' \
'--locked[Fail if Kraftfile.lock is missing a source or would change (for CI)]' \
'--remote-required[Fail when the remote cache is unavailable, instead of building locally]' \
'--no-remote[Do not use a remote cache, even if one is configured]' \
'--explain[Say why each step ran, was taken from the cache, or was up to date]' \
'-v[Stream the output of the tools steps run (make), prefixed with the target]' \
'--verbose[Stream the output of the tools steps run (make), prefixed with the target]' \
'-k[After a step fails, go on building everything that does not depend on it, and list the failures at the end]' \
'--keep-going[After a step fails, go on building everything that does not depend on it, and list the failures at the end]' \
'(--watch)--check[Rebuild every selected action step in a scratch directory, ignoring the caches, and compare its outputs bit for bit with the cached ones (exit 1 on a difference)]' \
'--watch[After the build, rebuild whenever a source the build reads changes]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::dir -- The project directory, or DIR/... for every project under DIR (Kraftfiles found as `git ls-files` would list them\: .gitignore is respected, .unikraft/ skipped):_files' \
&& ret=0
;;
(plan)
_arguments "${_arguments_options[@]}" : \
'-K+[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--kraftfile=[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--plat=[Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)]:PLAT:_default' \
'-m+[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-t+[Only the target with this name (or plat/arch)]:NAME:_default' \
'--target=[Only the target with this name (or plat/arch)]:NAME:_default' \
'*--source=[Take component NAME (\`unikraft\`, a library'\''s name, \`template\`) from PATH or URL (\`URL@VERSION\` or \`URL?branch=B\` pick a version). Repeatable]:NAME=PATH|URL:_default' \
'*--build-arg=[Set a Dockerfile rootfs'\''s ARG (\`NAME=VALUE\`; \`NAME\` alone takes the environment'\''s). Repeatable]:NAME=VALUE:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--remote-cache=[The team'\''s remote cache\: http(s)\://HOST\[\:PORT\]\[/PREFIX\] (Bazel HTTP protocol\: nginx WebDAV, bazel-remote) or grpc(s)\://HOST\[\:PORT\] (REAPI\: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config'\''s token_file / token_env]:URL:_default' \
'--remote-upload=[Upload results of steps that ran (false\: only take hits)]::BOOL:(true false)' \
'--distribute=[Spread the kernel'\''s C compiles over other machines with icecream (icecc), or \`off\` (the config'\''s \[distribute\] gives the default)]::ENGINE:((icecc\:"icecream\: ships this machine'\''s compiler to its workers"
off\:"Compile here"))' \
'--name=[Include the package steps \`kiln pkg --name REF\` would run]:REF:_default' \
'--format=[The package format (with --name)]:FORMAT:((kraftkit\:"kraft'\''s layout\: what \`kraft run\` and \`kraft pkg pull\` take"
urunc\:"What urunc (containerd'\''s unikernel runtime) boots"))' \
'--offline[Never touch the network]' \
'--locked[Fail if Kraftfile.lock is missing a source or would change (for CI)]' \
'--remote-required[Fail when the remote cache is unavailable, instead of building locally]' \
'--no-remote[Do not use a remote cache, even if one is configured]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::dir -- The project directory, or DIR/... for every project under DIR (Kraftfiles found as `git ls-files` would list them\: .gitignore is respected, .unikraft/ skipped):_files' \
&& ret=0
;;
(run)
_arguments "${_arguments_options[@]}" : \
'-K+[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--kraftfile=[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--plat=[Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)]:PLAT:_default' \
'-m+[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-t+[Only the target with this name (or plat/arch)]:NAME:_default' \
'--target=[Only the target with this name (or plat/arch)]:NAME:_default' \
'*--source=[Take component NAME (\`unikraft\`, a library'\''s name, \`template\`) from PATH or URL (\`URL@VERSION\` or \`URL?branch=B\` pick a version). Repeatable]:NAME=PATH|URL:_default' \
'*--build-arg=[Set a Dockerfile rootfs'\''s ARG (\`NAME=VALUE\`; \`NAME\` alone takes the environment'\''s). Repeatable]:NAME=VALUE:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--remote-cache=[The team'\''s remote cache\: http(s)\://HOST\[\:PORT\]\[/PREFIX\] (Bazel HTTP protocol\: nginx WebDAV, bazel-remote) or grpc(s)\://HOST\[\:PORT\] (REAPI\: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config'\''s token_file / token_env]:URL:_default' \
'--remote-upload=[Upload results of steps that ran (false\: only take hits)]::BOOL:(true false)' \
'--distribute=[Spread the kernel'\''s C compiles over other machines with icecream (icecc), or \`off\` (the config'\''s \[distribute\] gives the default)]::ENGINE:((icecc\:"icecream\: ships this machine'\''s compiler to its workers"
off\:"Compile here"))' \
'-M+[Memory, e.g. 64M, 1G]:MEMORY:_default' \
'--memory=[Memory, e.g. 64M, 1G]:MEMORY:_default' \
'*-p+[Forward a host port to the guest\: HOST\:GUEST, \[IP\:\]HOST\:GUEST\[/udp\]]:HOST:GUEST:_default' \
'*--port=[Forward a host port to the guest\: HOST\:GUEST, \[IP\:\]HOST\:GUEST\[/udp\]]:HOST:GUEST:_default' \
'*-v+[Share a host directory with the guest over 9p\: HOST\:GUEST\[\:ro\]]:HOST:GUEST:_default' \
'*--volume=[Share a host directory with the guest over 9p\: HOST\:GUEST\[\:ro\]]:HOST:GUEST:_default' \
'*-e+[Set an environment variable in the guest\: K=V, or K to take the host'\''s value]:K=V:_default' \
'*--env=[Set an environment variable in the guest\: K=V, or K to take the host'\''s value]:K=V:_default' \
'--name=[The machine'\''s name (default\: generated)]:NAME:_default' \
'--accel=[Acceleration\: auto (KVM only where it really works), kvm, tcg]:ACCEL:((auto\:"KVM only where it really works, else TCG"
kvm\:"KVM, or fail"
tcg\:"Software emulation"))' \
'--timeout=[Stop the machine and fail after this long (e.g. 30s, 2m)]:DUR:_default' \
'-j+[Run at most N build steps at once]:N:_default' \
'--jobs=[Run at most N build steps at once]:N:_default' \
'--progress=[How to show progress on stderr]:MODE:((auto\:"Live lines on a terminal, plain lines elsewhere"
tty\:"Live lines redrawn in place (even when stderr is not a terminal)"
plain\:"Whole lines only, and every 10 s a line for each step still running (CI logs)"
none\:"No progress lines; errors and results still print"))' \
'--trace=[Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome\://tracing)]:FILE:_files' \
'--offline[Never touch the network]' \
'--locked[Fail if Kraftfile.lock is missing a source or would change (for CI)]' \
'--remote-required[Fail when the remote cache is unavailable, instead of building locally]' \
'--no-remote[Do not use a remote cache, even if one is configured]' \
'-d[Run in the background and print the machine'\''s name]' \
'--detach[Run in the background and print the machine'\''s name]' \
'--rm[Remove the machine when it stops]' \
'-W[Disable acceleration (the same as --accel tcg)]' \
'--disable-acceleration[Disable acceleration (the same as --accel tcg)]' \
'--verbose[Stream the output of the tools build steps run (make), prefixed with the target]' \
'(-d --detach)--watch[Rebuild when a source changes and boot the new kernel (QMP quit, then start again with the same flags); a failed rebuild keeps the running machine]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::dir -- The project directory, or DIR/... for every project under DIR (Kraftfiles found as `git ls-files` would list them\: .gitignore is respected, .unikraft/ skipped):_files' \
'*::args -- The application'\''s arguments (replace the Kraftfile'\''s `cmd`):_default' \
&& ret=0
;;
(ps)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(logs)
_arguments "${_arguments_options[@]}" : \
'-f[Keep printing as the console grows, until the machine stops]' \
'--follow[Keep printing as the console grows, until the machine stops]' \
'-h[Print help]' \
'--help[Print help]' \
':name -- The machine'\''s name:_default' \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'*::names -- Machine names:_default' \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'*::names -- Machine names:_default' \
&& ret=0
;;
(lock)
_arguments "${_arguments_options[@]}" : \
'-K+[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--kraftfile=[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--plat=[Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)]:PLAT:_default' \
'-m+[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-t+[Only the target with this name (or plat/arch)]:NAME:_default' \
'--target=[Only the target with this name (or plat/arch)]:NAME:_default' \
'*--source=[Take component NAME (\`unikraft\`, a library'\''s name, \`template\`) from PATH or URL (\`URL@VERSION\` or \`URL?branch=B\` pick a version). Repeatable]:NAME=PATH|URL:_default' \
'*--build-arg=[Set a Dockerfile rootfs'\''s ARG (\`NAME=VALUE\`; \`NAME\` alone takes the environment'\''s). Repeatable]:NAME=VALUE:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--remote-cache=[The team'\''s remote cache\: http(s)\://HOST\[\:PORT\]\[/PREFIX\] (Bazel HTTP protocol\: nginx WebDAV, bazel-remote) or grpc(s)\://HOST\[\:PORT\] (REAPI\: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config'\''s token_file / token_env]:URL:_default' \
'--remote-upload=[Upload results of steps that ran (false\: only take hits)]::BOOL:(true false)' \
'--distribute=[Spread the kernel'\''s C compiles over other machines with icecream (icecc), or \`off\` (the config'\''s \[distribute\] gives the default)]::ENGINE:((icecc\:"icecream\: ships this machine'\''s compiler to its workers"
off\:"Compile here"))' \
'--offline[Never touch the network]' \
'--locked[Fail if Kraftfile.lock is missing a source or would change (for CI)]' \
'--remote-required[Fail when the remote cache is unavailable, instead of building locally]' \
'--no-remote[Do not use a remote cache, even if one is configured]' \
'(--locked)--update[Resolve every version afresh (newest \`stable\`, branch heads) instead of keeping the commits the lock pins]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::dir -- The project directory, or DIR/... for every project under DIR (Kraftfiles found as `git ls-files` would list them\: .gitignore is respected, .unikraft/ skipped):_files' \
&& ret=0
;;
(fetch)
_arguments "${_arguments_options[@]}" : \
'-K+[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--kraftfile=[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--plat=[Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)]:PLAT:_default' \
'-m+[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-t+[Only the target with this name (or plat/arch)]:NAME:_default' \
'--target=[Only the target with this name (or plat/arch)]:NAME:_default' \
'*--source=[Take component NAME (\`unikraft\`, a library'\''s name, \`template\`) from PATH or URL (\`URL@VERSION\` or \`URL?branch=B\` pick a version). Repeatable]:NAME=PATH|URL:_default' \
'*--build-arg=[Set a Dockerfile rootfs'\''s ARG (\`NAME=VALUE\`; \`NAME\` alone takes the environment'\''s). Repeatable]:NAME=VALUE:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--remote-cache=[The team'\''s remote cache\: http(s)\://HOST\[\:PORT\]\[/PREFIX\] (Bazel HTTP protocol\: nginx WebDAV, bazel-remote) or grpc(s)\://HOST\[\:PORT\] (REAPI\: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config'\''s token_file / token_env]:URL:_default' \
'--remote-upload=[Upload results of steps that ran (false\: only take hits)]::BOOL:(true false)' \
'--distribute=[Spread the kernel'\''s C compiles over other machines with icecream (icecc), or \`off\` (the config'\''s \[distribute\] gives the default)]::ENGINE:((icecc\:"icecream\: ships this machine'\''s compiler to its workers"
off\:"Compile here"))' \
'-j+[Run at most N steps at once (default\: the number of cores)]:N:_default' \
'--jobs=[Run at most N steps at once (default\: the number of cores)]:N:_default' \
'--progress=[How to show progress on stderr]:MODE:((auto\:"Live lines on a terminal, plain lines elsewhere"
tty\:"Live lines redrawn in place (even when stderr is not a terminal)"
plain\:"Whole lines only, and every 10 s a line for each step still running (CI logs)"
none\:"No progress lines; errors and results still print"))' \
'--trace=[Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome\://tracing)]:FILE:_files' \
'--offline[Never touch the network]' \
'--locked[Fail if Kraftfile.lock is missing a source or would change (for CI)]' \
'--remote-required[Fail when the remote cache is unavailable, instead of building locally]' \
'--no-remote[Do not use a remote cache, even if one is configured]' \
'--explain[Say why each step ran, was taken from the cache, or was up to date]' \
'-v[Stream the output of the tools steps run (make), prefixed with the target]' \
'--verbose[Stream the output of the tools steps run (make), prefixed with the target]' \
'-k[After a step fails, go on building everything that does not depend on it, and list the failures at the end]' \
'--keep-going[After a step fails, go on building everything that does not depend on it, and list the failures at the end]' \
'--refresh[Download every URL again, even if the cache has it, to find a server that now sends other bytes than Kraftfile.lock pins (with --locked, that is an error)]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::dir -- The project directory, or DIR/... for every project under DIR (Kraftfiles found as `git ls-files` would list them\: .gitignore is respected, .unikraft/ skipped):_files' \
&& ret=0
;;
(pkg)
_arguments "${_arguments_options[@]}" : \
'-K+[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--kraftfile=[The Kraftfile to use instead of searching DIR]:FILE:_files' \
'--plat=[Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker)]:PLAT:_default' \
'-m+[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only targets for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-t+[Only the target with this name (or plat/arch)]:NAME:_default' \
'--target=[Only the target with this name (or plat/arch)]:NAME:_default' \
'*--source=[Take component NAME (\`unikraft\`, a library'\''s name, \`template\`) from PATH or URL (\`URL@VERSION\` or \`URL?branch=B\` pick a version). Repeatable]:NAME=PATH|URL:_default' \
'*--build-arg=[Set a Dockerfile rootfs'\''s ARG (\`NAME=VALUE\`; \`NAME\` alone takes the environment'\''s). Repeatable]:NAME=VALUE:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--remote-cache=[The team'\''s remote cache\: http(s)\://HOST\[\:PORT\]\[/PREFIX\] (Bazel HTTP protocol\: nginx WebDAV, bazel-remote) or grpc(s)\://HOST\[\:PORT\] (REAPI\: BuildGrid, Buildbarn, ...). Credentials come from the URL, netrc, or the config'\''s token_file / token_env]:URL:_default' \
'--remote-upload=[Upload results of steps that ran (false\: only take hits)]::BOOL:(true false)' \
'--distribute=[Spread the kernel'\''s C compiles over other machines with icecream (icecc), or \`off\` (the config'\''s \[distribute\] gives the default)]::ENGINE:((icecc\:"icecream\: ships this machine'\''s compiler to its workers"
off\:"Compile here"))' \
'-j+[Run at most N steps at once (default\: the number of cores)]:N:_default' \
'--jobs=[Run at most N steps at once (default\: the number of cores)]:N:_default' \
'--progress=[How to show progress on stderr]:MODE:((auto\:"Live lines on a terminal, plain lines elsewhere"
tty\:"Live lines redrawn in place (even when stderr is not a terminal)"
plain\:"Whole lines only, and every 10 s a line for each step still running (CI logs)"
none\:"No progress lines; errors and results still print"))' \
'--trace=[Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or chrome\://tracing)]:FILE:_files' \
'--name=[The package'\''s name, \[REGISTRY/\]NAME\[\:TAG\] (default\: the project'\''s name, tag latest)]:REF:_default' \
'--format=[The package format]:FORMAT:((kraftkit\:"kraft'\''s layout\: what \`kraft run\` and \`kraft pkg pull\` take"
urunc\:"What urunc (containerd'\''s unikernel runtime) boots"))' \
'--offline[Never touch the network]' \
'--locked[Fail if Kraftfile.lock is missing a source or would change (for CI)]' \
'--remote-required[Fail when the remote cache is unavailable, instead of building locally]' \
'--no-remote[Do not use a remote cache, even if one is configured]' \
'--explain[Say why each step ran, was taken from the cache, or was up to date]' \
'-v[Stream the output of the tools steps run (make), prefixed with the target]' \
'--verbose[Stream the output of the tools steps run (make), prefixed with the target]' \
'-k[After a step fails, go on building everything that does not depend on it, and list the failures at the end]' \
'--keep-going[After a step fails, go on building everything that does not depend on it, and list the failures at the end]' \
'--push[Push the package to its registry afterwards]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
'::dir -- The project directory, or DIR/... for every project under DIR (Kraftfiles found as `git ls-files` would list them\: .gitignore is respected, .unikraft/ skipped):_files' \
":: :_kiln__subcmd__pkg_commands" \
"*::: :->pkg" \
&& ret=0

    case $state in
    (pkg)
        words=($line[2] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-pkg-command-$line[2]:"
        case $line[2] in
            (ls)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
'*::refs -- Package references:_default' \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':reference -- The package:_default' \
':dir -- The layout directory (created if needed):_files' \
&& ret=0
;;
(push)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':reference -- The package:_default' \
&& ret=0
;;
(pull)
_arguments "${_arguments_options[@]}" : \
'-w+[Also unpack the kernel and initrd into DIR/unikraft/bin/, where \`kraft pkg pull -w\` puts them]:DIR:_files' \
'--workdir=[Also unpack the kernel and initrd into DIR/unikraft/bin/, where \`kraft pkg pull -w\` puts them]:DIR:_files' \
'--plat=[Only manifests for this platform (qemu, fc, xen)]:PLAT:_default' \
'-m+[Only manifests for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'--arch=[Only manifests for this architecture (x86_64, arm64, arm)]:ARCH:_default' \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--offline[Use only what kiln already has; never touch the network]' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
':reference -- The package:_default' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kiln__subcmd__pkg__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-pkg-help-command-$line[1]:"
        case $line[1] in
            (ls)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(push)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pull)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(login)
_arguments "${_arguments_options[@]}" : \
'-u+[The user name]:USERNAME:_default' \
'--username=[The user name]:USERNAME:_default' \
'--password-stdin[Read the password (or token) from stdin; the only way to give it]' \
'-h[Print help]' \
'--help[Print help]' \
':registry -- The registry, e.g. localhost\:5000 or ghcr.io:_default' \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
':shell -- The shell:(bash elvish fish powershell zsh)' \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
'--dir=[Write kiln.1 and kiln-<command>.1 into this directory instead]:DIR:_files' \
'-h[Print help]' \
'--help[Print help]' \
&& ret=0
;;
(cache)
_arguments "${_arguments_options[@]}" : \
'-h[Print help]' \
'--help[Print help]' \
":: :_kiln__subcmd__cache_commands" \
"*::: :->cache" \
&& ret=0

    case $state in
    (cache)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-cache-command-$line[1]:"
        case $line[1] in
            (stats)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(gc)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--max-size=[The size to shrink to, e.g. 10G, 500M]:SIZE:_default' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(verify)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(clean)
_arguments "${_arguments_options[@]}" : \
'-o+[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'--output=[Output format]:OUTPUT:((human\:"Text for people"
json\:"JSON on stdout, stable and documented in README.md"))' \
'-h[Print help (see more with '\''--help'\'')]' \
'--help[Print help (see more with '\''--help'\'')]' \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kiln__subcmd__cache__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-cache-help-command-$line[1]:"
        case $line[1] in
            (stats)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(gc)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(clean)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
;;
(help)
_arguments "${_arguments_options[@]}" : \
":: :_kiln__subcmd__help_commands" \
"*::: :->help" \
&& ret=0

    case $state in
    (help)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-help-command-$line[1]:"
        case $line[1] in
            (build)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(plan)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(run)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(ps)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(logs)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(stop)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(lock)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(fetch)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pkg)
_arguments "${_arguments_options[@]}" : \
":: :_kiln__subcmd__help__subcmd__pkg_commands" \
"*::: :->pkg" \
&& ret=0

    case $state in
    (pkg)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-help-pkg-command-$line[1]:"
        case $line[1] in
            (ls)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(rm)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(export)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(push)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(pull)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(login)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(completions)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(man)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(cache)
_arguments "${_arguments_options[@]}" : \
":: :_kiln__subcmd__help__subcmd__cache_commands" \
"*::: :->cache" \
&& ret=0

    case $state in
    (cache)
        words=($line[1] "${words[@]}")
        (( CURRENT += 1 ))
        curcontext="${curcontext%:*:*}:kiln-help-cache-command-$line[1]:"
        case $line[1] in
            (stats)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(gc)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(verify)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
(clean)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
(help)
_arguments "${_arguments_options[@]}" : \
&& ret=0
;;
        esac
    ;;
esac
;;
        esac
    ;;
esac
}

(( $+functions[_kiln_commands] )) ||
_kiln_commands() {
    local commands; commands=(
'build:Build the selected targets (only what changed). \`kiln build ./...\` builds every project under the directory in one graph' \
'plan:Show the step graph of the selected targets without running anything' \
'run:Build what is stale, then boot the selected target' \
'ps:List machines' \
'logs:Print a machine'\''s serial console' \
'stop:Stop machines (QMP quit, then SIGTERM, then SIGKILL). Stopping a stopped one is fine' \
'rm:Stop and remove machines' \
'lock:Resolve every source and write Kraftfile.lock (commit it)' \
'fetch:Download everything the selected targets need (component sources and the upstream archives their libraries fetch), so that \`kiln build --offline\` works afterwards' \
'pkg:Build what is stale and package it as an OCI image (kraft'\''s or urunc'\''s format); also list, remove, export, push and pull packages' \
'login:Log in to a registry\: the password is read from stdin, checked against the registry, and stored in kiln'\''s config directory (mode 0600)' \
'completions:Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout' \
'man:Print kiln'\''s manual page (roff) on stdout, or write one page per command into DIR' \
'cache:Inspect and maintain the local cache' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kiln commands' commands "$@"
}
(( $+functions[_kiln__subcmd__build_commands] )) ||
_kiln__subcmd__build_commands() {
    local commands; commands=()
    _describe -t commands 'kiln build commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache_commands] )) ||
_kiln__subcmd__cache_commands() {
    local commands; commands=(
'stats:Show the cache'\''s location, entry counts and size' \
'gc:Remove least recently used entries until the cache fits in SIZE' \
'verify:Re-hash every entry and drop the damaged ones' \
'clean:Remove everything from the cache' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kiln cache commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__clean_commands] )) ||
_kiln__subcmd__cache__subcmd__clean_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache clean commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__gc_commands] )) ||
_kiln__subcmd__cache__subcmd__gc_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache gc commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__help_commands] )) ||
_kiln__subcmd__cache__subcmd__help_commands() {
    local commands; commands=(
'stats:Show the cache'\''s location, entry counts and size' \
'gc:Remove least recently used entries until the cache fits in SIZE' \
'verify:Re-hash every entry and drop the damaged ones' \
'clean:Remove everything from the cache' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kiln cache help commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__help__subcmd__clean_commands] )) ||
_kiln__subcmd__cache__subcmd__help__subcmd__clean_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache help clean commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__help__subcmd__gc_commands] )) ||
_kiln__subcmd__cache__subcmd__help__subcmd__gc_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache help gc commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__help__subcmd__help_commands] )) ||
_kiln__subcmd__cache__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache help help commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__help__subcmd__stats_commands] )) ||
_kiln__subcmd__cache__subcmd__help__subcmd__stats_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache help stats commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__help__subcmd__verify_commands] )) ||
_kiln__subcmd__cache__subcmd__help__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache help verify commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__stats_commands] )) ||
_kiln__subcmd__cache__subcmd__stats_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache stats commands' commands "$@"
}
(( $+functions[_kiln__subcmd__cache__subcmd__verify_commands] )) ||
_kiln__subcmd__cache__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'kiln cache verify commands' commands "$@"
}
(( $+functions[_kiln__subcmd__completions_commands] )) ||
_kiln__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'kiln completions commands' commands "$@"
}
(( $+functions[_kiln__subcmd__fetch_commands] )) ||
_kiln__subcmd__fetch_commands() {
    local commands; commands=()
    _describe -t commands 'kiln fetch commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help_commands] )) ||
_kiln__subcmd__help_commands() {
    local commands; commands=(
'build:Build the selected targets (only what changed). \`kiln build ./...\` builds every project under the directory in one graph' \
'plan:Show the step graph of the selected targets without running anything' \
'run:Build what is stale, then boot the selected target' \
'ps:List machines' \
'logs:Print a machine'\''s serial console' \
'stop:Stop machines (QMP quit, then SIGTERM, then SIGKILL). Stopping a stopped one is fine' \
'rm:Stop and remove machines' \
'lock:Resolve every source and write Kraftfile.lock (commit it)' \
'fetch:Download everything the selected targets need (component sources and the upstream archives their libraries fetch), so that \`kiln build --offline\` works afterwards' \
'pkg:Build what is stale and package it as an OCI image (kraft'\''s or urunc'\''s format); also list, remove, export, push and pull packages' \
'login:Log in to a registry\: the password is read from stdin, checked against the registry, and stored in kiln'\''s config directory (mode 0600)' \
'completions:Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout' \
'man:Print kiln'\''s manual page (roff) on stdout, or write one page per command into DIR' \
'cache:Inspect and maintain the local cache' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kiln help commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__build_commands] )) ||
_kiln__subcmd__help__subcmd__build_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help build commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__cache_commands] )) ||
_kiln__subcmd__help__subcmd__cache_commands() {
    local commands; commands=(
'stats:Show the cache'\''s location, entry counts and size' \
'gc:Remove least recently used entries until the cache fits in SIZE' \
'verify:Re-hash every entry and drop the damaged ones' \
'clean:Remove everything from the cache' \
    )
    _describe -t commands 'kiln help cache commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__cache__subcmd__clean_commands] )) ||
_kiln__subcmd__help__subcmd__cache__subcmd__clean_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help cache clean commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__cache__subcmd__gc_commands] )) ||
_kiln__subcmd__help__subcmd__cache__subcmd__gc_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help cache gc commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__cache__subcmd__stats_commands] )) ||
_kiln__subcmd__help__subcmd__cache__subcmd__stats_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help cache stats commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__cache__subcmd__verify_commands] )) ||
_kiln__subcmd__help__subcmd__cache__subcmd__verify_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help cache verify commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__completions_commands] )) ||
_kiln__subcmd__help__subcmd__completions_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help completions commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__fetch_commands] )) ||
_kiln__subcmd__help__subcmd__fetch_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help fetch commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__help_commands] )) ||
_kiln__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help help commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__lock_commands] )) ||
_kiln__subcmd__help__subcmd__lock_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help lock commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__login_commands] )) ||
_kiln__subcmd__help__subcmd__login_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help login commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__logs_commands] )) ||
_kiln__subcmd__help__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help logs commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__man_commands] )) ||
_kiln__subcmd__help__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help man commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__pkg_commands] )) ||
_kiln__subcmd__help__subcmd__pkg_commands() {
    local commands; commands=(
'ls:List the packages kiln keeps' \
'rm:Forget packages (their blobs go with the next \`kiln cache gc\`)' \
'export:Write a package as an OCI image layout (for skopeo \`oci\:DIR\:TAG\`, umoci, containerd)' \
'push:Push a package to its registry' \
'pull:Pull a package from its registry into kiln'\''s store' \
    )
    _describe -t commands 'kiln help pkg commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__pkg__subcmd__export_commands] )) ||
_kiln__subcmd__help__subcmd__pkg__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help pkg export commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__pkg__subcmd__ls_commands] )) ||
_kiln__subcmd__help__subcmd__pkg__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help pkg ls commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__pkg__subcmd__pull_commands] )) ||
_kiln__subcmd__help__subcmd__pkg__subcmd__pull_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help pkg pull commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__pkg__subcmd__push_commands] )) ||
_kiln__subcmd__help__subcmd__pkg__subcmd__push_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help pkg push commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__pkg__subcmd__rm_commands] )) ||
_kiln__subcmd__help__subcmd__pkg__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help pkg rm commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__plan_commands] )) ||
_kiln__subcmd__help__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help plan commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__ps_commands] )) ||
_kiln__subcmd__help__subcmd__ps_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help ps commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__rm_commands] )) ||
_kiln__subcmd__help__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help rm commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__run_commands] )) ||
_kiln__subcmd__help__subcmd__run_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help run commands' commands "$@"
}
(( $+functions[_kiln__subcmd__help__subcmd__stop_commands] )) ||
_kiln__subcmd__help__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'kiln help stop commands' commands "$@"
}
(( $+functions[_kiln__subcmd__lock_commands] )) ||
_kiln__subcmd__lock_commands() {
    local commands; commands=()
    _describe -t commands 'kiln lock commands' commands "$@"
}
(( $+functions[_kiln__subcmd__login_commands] )) ||
_kiln__subcmd__login_commands() {
    local commands; commands=()
    _describe -t commands 'kiln login commands' commands "$@"
}
(( $+functions[_kiln__subcmd__logs_commands] )) ||
_kiln__subcmd__logs_commands() {
    local commands; commands=()
    _describe -t commands 'kiln logs commands' commands "$@"
}
(( $+functions[_kiln__subcmd__man_commands] )) ||
_kiln__subcmd__man_commands() {
    local commands; commands=()
    _describe -t commands 'kiln man commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg_commands] )) ||
_kiln__subcmd__pkg_commands() {
    local commands; commands=(
'ls:List the packages kiln keeps' \
'rm:Forget packages (their blobs go with the next \`kiln cache gc\`)' \
'export:Write a package as an OCI image layout (for skopeo \`oci\:DIR\:TAG\`, umoci, containerd)' \
'push:Push a package to its registry' \
'pull:Pull a package from its registry into kiln'\''s store' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kiln pkg commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__export_commands] )) ||
_kiln__subcmd__pkg__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg export commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help_commands] )) ||
_kiln__subcmd__pkg__subcmd__help_commands() {
    local commands; commands=(
'ls:List the packages kiln keeps' \
'rm:Forget packages (their blobs go with the next \`kiln cache gc\`)' \
'export:Write a package as an OCI image layout (for skopeo \`oci\:DIR\:TAG\`, umoci, containerd)' \
'push:Push a package to its registry' \
'pull:Pull a package from its registry into kiln'\''s store' \
'help:Print this message or the help of the given subcommand(s)' \
    )
    _describe -t commands 'kiln pkg help commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help__subcmd__export_commands] )) ||
_kiln__subcmd__pkg__subcmd__help__subcmd__export_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg help export commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help__subcmd__help_commands] )) ||
_kiln__subcmd__pkg__subcmd__help__subcmd__help_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg help help commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help__subcmd__ls_commands] )) ||
_kiln__subcmd__pkg__subcmd__help__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg help ls commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help__subcmd__pull_commands] )) ||
_kiln__subcmd__pkg__subcmd__help__subcmd__pull_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg help pull commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help__subcmd__push_commands] )) ||
_kiln__subcmd__pkg__subcmd__help__subcmd__push_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg help push commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__help__subcmd__rm_commands] )) ||
_kiln__subcmd__pkg__subcmd__help__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg help rm commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__ls_commands] )) ||
_kiln__subcmd__pkg__subcmd__ls_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg ls commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__pull_commands] )) ||
_kiln__subcmd__pkg__subcmd__pull_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg pull commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__push_commands] )) ||
_kiln__subcmd__pkg__subcmd__push_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg push commands' commands "$@"
}
(( $+functions[_kiln__subcmd__pkg__subcmd__rm_commands] )) ||
_kiln__subcmd__pkg__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'kiln pkg rm commands' commands "$@"
}
(( $+functions[_kiln__subcmd__plan_commands] )) ||
_kiln__subcmd__plan_commands() {
    local commands; commands=()
    _describe -t commands 'kiln plan commands' commands "$@"
}
(( $+functions[_kiln__subcmd__ps_commands] )) ||
_kiln__subcmd__ps_commands() {
    local commands; commands=()
    _describe -t commands 'kiln ps commands' commands "$@"
}
(( $+functions[_kiln__subcmd__rm_commands] )) ||
_kiln__subcmd__rm_commands() {
    local commands; commands=()
    _describe -t commands 'kiln rm commands' commands "$@"
}
(( $+functions[_kiln__subcmd__run_commands] )) ||
_kiln__subcmd__run_commands() {
    local commands; commands=()
    _describe -t commands 'kiln run commands' commands "$@"
}
(( $+functions[_kiln__subcmd__stop_commands] )) ||
_kiln__subcmd__stop_commands() {
    local commands; commands=()
    _describe -t commands 'kiln stop commands' commands "$@"
}

if [ "$funcstack[1]" = "_kiln" ]; then
    _kiln "$@"
else
    compdef _kiln kiln
fi
