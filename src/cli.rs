//! The command line: clap definitions of every verb and flag. No behaviour lives here.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// kiln builds and runs Unikraft unikernels from Kraftfiles: every step is cached by the
/// BLAKE3 hash of its inputs, independent steps run in parallel, and artifacts are
/// byte-for-byte reproducible.
#[derive(Debug, Parser)]
#[command(name = "kiln", version, about, long_about = None)]
#[command(after_help = "Exit status: 0 ok, 1 build or run failure, 2 invalid input or usage.")]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The verbs.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build the selected targets (only what changed). `kiln build ./...` builds every
    /// project under the directory in one graph.
    Build(BuildCmd),
    /// Show the step graph of the selected targets without running anything.
    Plan(PlanArgs),
    /// Build what is stale, then boot the selected target.
    Run(Box<RunArgs>),
    /// List machines.
    Ps(PsArgs),
    /// Print a machine's serial console.
    Logs {
        /// The machine's name.
        name: String,
        /// Keep printing as the console grows, until the machine stops.
        #[arg(short, long)]
        follow: bool,
    },
    /// Stop machines (QMP quit, then SIGTERM, then SIGKILL). Stopping a stopped one is fine.
    Stop {
        /// Machine names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Stop and remove machines.
    Rm {
        /// Machine names.
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Resolve every source and write Kraftfile.lock (commit it).
    Lock(LockArgs),
    /// Download everything the selected targets need (component sources and the upstream
    /// archives their libraries fetch), so that `kiln build --offline` works afterwards.
    Fetch(FetchArgs),
    /// Build what is stale and package it as an OCI image (kraft's or urunc's format); also
    /// list, remove, export, push and pull packages.
    Pkg(Box<PkgArgs>),
    /// Log in to a registry: the password is read from stdin, checked against the
    /// registry, and stored in kiln's config directory (mode 0600).
    Login(LoginArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell) on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print kiln's manual page (roff) on stdout, or write one page per command into DIR.
    Man {
        /// Write kiln.1 and kiln-<command>.1 into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Inspect and maintain the local cache.
    Cache {
        /// What to do with the cache.
        #[command(subcommand)]
        command: CacheCommand,
    },
    /// The parent of a detached machine (started by `kiln run -d`; not for direct use).
    #[command(name = "__supervise", hide = true)]
    Supervise {
        /// The instance directory.
        dir: PathBuf,
    },
    /// make's `WGET` during a kiln build: serves a download from kiln's cache (not for direct
    /// use).
    #[command(name = "__wget", hide = true)]
    Wget {
        /// wget's arguments as Unikraft's make passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// make's `GIT` during a kiln build: serves `git clone` from kiln's git cache (not for
    /// direct use).
    #[command(name = "__git", hide = true)]
    Git {
        /// git's arguments as Unikraft's make passes them.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// The change-watching daemon (started by builds; not for direct use).
    #[command(name = "__watch-daemon", hide = true)]
    WatchDaemon {
        /// The Unix socket to serve on.
        #[arg(long)]
        socket: PathBuf,
    },
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Output {
    /// Text for people.
    #[default]
    Human,
    /// JSON on stdout, stable and documented in README.md.
    Json,
}

/// How progress is shown on stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum ProgressMode {
    /// Live lines on a terminal, plain lines elsewhere.
    #[default]
    Auto,
    /// Live lines redrawn in place (even when stderr is not a terminal).
    Tty,
    /// Whole lines only, and every 10 s a line for each step still running (CI logs).
    Plain,
    /// No progress lines; errors and results still print.
    None,
}

/// How a build shows itself while it runs (shared by build, fetch, pkg and run).
#[derive(Debug, Clone, Args)]
pub struct ShowArgs {
    /// How to show progress on stderr.
    #[arg(long, value_enum, value_name = "MODE", default_value_t = ProgressMode::Auto)]
    pub progress: ProgressMode,
    /// Write a Chrome trace-event profile of the build to FILE (open it in Perfetto or
    /// chrome://tracing).
    #[arg(long, value_name = "FILE")]
    pub trace: Option<PathBuf>,
}

/// Selecting a project and its targets (shared by build and plan).
#[derive(Debug, Clone, Args)]
pub struct ProjectArgs {
    /// The project directory, or DIR/... for every project under DIR (Kraftfiles found as
    /// `git ls-files` would list them: .gitignore is respected, .unikraft/ skipped).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// The Kraftfile to use instead of searching DIR.
    #[arg(short = 'K', long = "kraftfile", value_name = "FILE")]
    pub kraftfile: Option<PathBuf>,
    /// Only targets on this platform (qemu, fc, xen; aliases kvm, firecracker).
    #[arg(long, value_name = "PLAT")]
    pub plat: Option<String>,
    /// Only targets for this architecture (x86_64, arm64, arm).
    #[arg(long, short = 'm', value_name = "ARCH")]
    pub arch: Option<String>,
    /// Only the target with this name (or plat/arch).
    #[arg(long = "target", short = 't', value_name = "NAME")]
    pub target: Option<String>,
    /// Never touch the network.
    #[arg(long)]
    pub offline: bool,
    /// Take component NAME (`unikraft`, a library's name, `template`) from PATH or URL
    /// (`URL@VERSION` or `URL?branch=B` pick a version). Repeatable.
    #[arg(long = "source", value_name = "NAME=PATH|URL")]
    pub sources: Vec<String>,
    /// Fail if Kraftfile.lock is missing a source or would change (for CI).
    #[arg(long)]
    pub locked: bool,
    /// Set a Dockerfile rootfs's ARG (`NAME=VALUE`; `NAME` alone takes the environment's).
    /// Repeatable.
    #[arg(long = "build-arg", value_name = "NAME=VALUE")]
    pub build_args: Vec<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
    /// The remote cache.
    #[command(flatten)]
    pub remote: RemoteArgs,
    /// Spread the kernel's C compiles over other machines with icecream (icecc), or `off`
    /// (the config's [distribute] gives the default).
    #[arg(
        long,
        value_enum,
        value_name = "ENGINE",
        num_args = 0..=1,
        default_missing_value = "icecc"
    )]
    pub distribute: Option<DistributeEngine>,
}

/// `--distribute`'s engines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DistributeEngine {
    /// icecream: ships this machine's compiler to its workers.
    Icecc,
    /// Compile here.
    Off,
}

/// The remote cache flags (the config file's `[remote]` gives the defaults).
#[derive(Debug, Clone, Args)]
pub struct RemoteArgs {
    /// The team's remote cache: http(s)://HOST[:PORT][/PREFIX] (Bazel HTTP protocol: nginx
    /// WebDAV, bazel-remote) or grpc(s)://HOST[:PORT] (REAPI: BuildGrid, Buildbarn, ...).
    /// Credentials come from the URL, netrc, or the config's token_file / token_env.
    #[arg(long = "remote-cache", value_name = "URL", env = "KILN_REMOTE_CACHE")]
    pub cache: Option<String>,
    /// Upload results of steps that ran (false: only take hits).
    #[arg(
        long = "remote-upload",
        value_name = "BOOL",
        num_args = 0..=1,
        default_missing_value = "true"
    )]
    pub upload: Option<bool>,
    /// Fail when the remote cache is unavailable, instead of building locally.
    #[arg(long = "remote-required")]
    pub required: bool,
    /// Do not use a remote cache, even if one is configured.
    #[arg(long = "no-remote")]
    pub no_remote: bool,
}

/// `kiln build`.
#[derive(Debug, Clone, Args)]
pub struct BuildArgs {
    /// Project and target selection.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Run at most N steps at once (default: the number of cores).
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// Say why each step ran, was taken from the cache, or was up to date.
    #[arg(long)]
    pub explain: bool,
    /// Stream the output of the tools steps run (make), prefixed with the target.
    #[arg(short = 'v', long)]
    pub verbose: bool,
    /// After a step fails, go on building everything that does not depend on it, and list
    /// the failures at the end.
    #[arg(short = 'k', long)]
    pub keep_going: bool,
    /// Progress and tracing.
    #[command(flatten)]
    pub show: ShowArgs,
}

/// `kiln build`.
#[derive(Debug, Args)]
pub struct BuildCmd {
    /// What to build, and how.
    #[command(flatten)]
    pub build: BuildArgs,
    /// Rebuild every selected action step in a scratch directory, ignoring the caches, and
    /// compare its outputs bit for bit with the cached ones (exit 1 on a difference).
    #[arg(long, conflicts_with = "watch")]
    pub check: bool,
    /// After the build, rebuild whenever a source the build reads changes.
    #[arg(long)]
    pub watch: bool,
}

/// `kiln fetch`.
#[derive(Debug, Args)]
pub struct FetchArgs {
    /// Selection, source flags, -j and --explain (as for build).
    #[command(flatten)]
    pub build: BuildArgs,
    /// Download every URL again, even if the cache has it, to find a server that now sends
    /// other bytes than Kraftfile.lock pins (with --locked, that is an error).
    #[arg(long)]
    pub refresh: bool,
}

/// `kiln plan`.
#[derive(Debug, Args)]
pub struct PlanArgs {
    /// Project and target selection.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Include the package steps `kiln pkg --name REF` would run.
    #[arg(long, value_name = "REF")]
    pub name: Option<String>,
    /// The package format (with --name).
    #[arg(long, value_enum, default_value_t = PkgFormat::Kraftkit)]
    pub format: PkgFormat,
}

/// `--format` of `kiln pkg`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum PkgFormat {
    /// kraft's layout: what `kraft run` and `kraft pkg pull` take.
    #[default]
    Kraftkit,
    /// What urunc (containerd's unikernel runtime) boots.
    Urunc,
}

/// `kiln pkg`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PkgArgs {
    /// ls, rm, export, push, pull; without one, build and package the project.
    #[command(subcommand)]
    pub command: Option<PkgCommand>,
    /// Selection, source flags, -j and --explain (as for build).
    #[command(flatten)]
    pub build: BuildArgs,
    /// The package's name, [REGISTRY/]NAME[:TAG] (default: the project's name, tag latest).
    #[arg(long, value_name = "REF")]
    pub name: Option<String>,
    /// The package format.
    #[arg(long, value_enum, default_value_t = PkgFormat::Kraftkit)]
    pub format: PkgFormat,
    /// Push the package to its registry afterwards.
    #[arg(long)]
    pub push: bool,
}

/// `kiln pkg ...`.
#[derive(Debug, Subcommand)]
pub enum PkgCommand {
    /// List the packages kiln keeps.
    Ls(OutputArgs),
    /// Forget packages (their blobs go with the next `kiln cache gc`).
    Rm {
        /// Package references.
        #[arg(required = true, value_name = "REF")]
        refs: Vec<String>,
    },
    /// Write a package as an OCI image layout (for skopeo `oci:DIR:TAG`, umoci, containerd).
    Export {
        /// The package.
        #[arg(value_name = "REF")]
        reference: String,
        /// The layout directory (created if needed).
        dir: PathBuf,
    },
    /// Push a package to its registry.
    Push(PushArgs),
    /// Pull a package from its registry into kiln's store.
    Pull(PullArgs),
}

/// `-o` alone.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// `kiln pkg push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// The package.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// `kiln pkg pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The package.
    #[arg(value_name = "REF")]
    pub reference: String,
    /// Also unpack the kernel and initrd into DIR/unikraft/bin/, where `kraft pkg pull -w`
    /// puts them.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// Only manifests for this platform (qemu, fc, xen).
    #[arg(long, value_name = "PLAT")]
    pub plat: Option<String>,
    /// Only manifests for this architecture (x86_64, arm64, arm).
    #[arg(long, short = 'm', value_name = "ARCH")]
    pub arch: Option<String>,
    /// Use only what kiln already has; never touch the network.
    #[arg(long)]
    pub offline: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// `kiln login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// The registry, e.g. localhost:5000 or ghcr.io.
    pub registry: String,
    /// The user name.
    #[arg(short = 'u', long = "username")]
    pub username: String,
    /// Read the password (or token) from stdin; the only way to give it.
    #[arg(long, required = true)]
    pub password_stdin: bool,
}

/// `kiln run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Project selection and source flags (the same as for build).
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Memory, e.g. 64M, 1G.
    #[arg(short = 'M', long, default_value = "64M")]
    pub memory: String,
    /// Forward a host port to the guest: HOST:GUEST, [IP:]HOST:GUEST[/udp].
    #[arg(short = 'p', long = "port", value_name = "HOST:GUEST")]
    pub ports: Vec<String>,
    /// Share a host directory with the guest over 9p: HOST:GUEST[:ro].
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST")]
    pub volumes: Vec<String>,
    /// Set an environment variable in the guest: K=V, or K to take the host's value.
    #[arg(short = 'e', long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// Run in the background and print the machine's name.
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Remove the machine when it stops.
    #[arg(long)]
    pub rm: bool,
    /// The machine's name (default: generated).
    #[arg(long)]
    pub name: Option<String>,
    /// Disable acceleration (the same as --accel tcg).
    #[arg(short = 'W', long = "disable-acceleration")]
    pub no_accel: bool,
    /// Acceleration: auto (KVM only where it really works), kvm, tcg.
    #[arg(long, value_enum, default_value_t = AccelArg::Auto)]
    pub accel: AccelArg,
    /// Stop the machine and fail after this long (e.g. 30s, 2m).
    #[arg(long, value_name = "DUR")]
    pub timeout: Option<String>,
    /// Run at most N build steps at once.
    #[arg(short = 'j', long = "jobs", value_name = "N")]
    pub jobs: Option<usize>,
    /// Stream the output of the tools build steps run (make), prefixed with the target.
    #[arg(long)]
    pub verbose: bool,
    /// Progress and tracing of the build.
    #[command(flatten)]
    pub show: ShowArgs,
    /// Rebuild when a source changes and boot the new kernel (QMP quit, then start again
    /// with the same flags); a failed rebuild keeps the running machine.
    #[arg(long, conflicts_with = "detach")]
    pub watch: bool,
    /// The application's arguments (replace the Kraftfile's `cmd`).
    #[arg(last = true, value_name = "APP ARGS")]
    pub args: Vec<String>,
}

/// `--accel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AccelArg {
    /// KVM only where it really works, else TCG.
    Auto,
    /// KVM, or fail.
    Kvm,
    /// Software emulation.
    Tcg,
}

/// `kiln ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
}

/// `kiln lock`.
#[derive(Debug, Args)]
pub struct LockArgs {
    /// Project selection and source flags.
    #[command(flatten)]
    pub project: ProjectArgs,
    /// Resolve every version afresh (newest `stable`, branch heads) instead of keeping the
    /// commits the lock pins.
    #[arg(long, conflicts_with = "locked")]
    pub update: bool,
}

/// `kiln cache ...`.
#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// Show the cache's location, entry counts and size.
    Stats(CacheArgs),
    /// Remove least recently used entries until the cache fits in SIZE.
    Gc {
        /// Output format and the like.
        #[command(flatten)]
        args: CacheArgs,
        /// The size to shrink to, e.g. 10G, 500M.
        #[arg(long, value_name = "SIZE")]
        max_size: String,
    },
    /// Re-hash every entry and drop the damaged ones.
    Verify(CacheArgs),
    /// Remove everything from the cache.
    Clean(CacheArgs),
}

/// Flags common to cache commands.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = Output::Human)]
    pub output: Output,
}
