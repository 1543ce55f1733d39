//! Sandbox configuration: [`Config`] and its [`ConfigBuilder`].

use std::path::PathBuf;
use std::time::Duration;

/// Isolation level selection strategy.
///
/// `Auto` lets libmsb pick the best backend this host offers (today: the
/// `os` backend); the explicit variants force one. Asking for `MicroVm`
/// before libmsb has its microVM backend is a clear `UnsupportedPlatform`
/// error when the sandbox is created.
///
/// ```
/// use msb::IsolationLevel;
///
/// let level = IsolationLevel::Auto;
/// assert_eq!(level, IsolationLevel::default());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum IsolationLevel {
    /// The best this host offers.
    #[default]
    Auto,
    /// OS-level isolation: namespaces, seccomp, cgroups (libmsb's `os`).
    Os,
    /// A KVM microVM (libmsb's `vm` backend).
    MicroVm,
}

/// Trust level of the code to run; steers `IsolationLevel::Auto`.
///
/// Fail-closed: `Untrusted` code with `Auto` isolation is only ever run in a
/// microVM; where there is none, creating the sandbox fails
/// (`UnsupportedPlatform`) instead of falling back to OS-level isolation.
/// Ask for `IsolationLevel::Os` explicitly to accept that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum TrustLevel {
    /// Your own code.
    Trusted,
    /// The default: code from a mostly trusted source (e.g. an agent's
    /// tool calls); runs on the best backend available.
    #[default]
    SemiTrusted,
    /// Code from anyone: needs the strongest isolation (microVM).
    Untrusted,
}

/// Network access policy for the sandbox.
///
/// libmsb sandboxes have no network (loopback only); the other policies
/// are refused with `UnsupportedPlatform` when the sandbox is created.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum NetworkPolicy {
    /// No network: only the loopback interface.
    #[default]
    DenyAll,
    /// HTTP(S) to these domains only.
    AllowDomains(Vec<String>),
    /// Full network access.
    AllowAll,
}

/// SDK-level configuration for sandbox creation and behaviour.
///
/// Build it with [`Config::builder`]; `Config::default()` is what
/// [`Sandbox::new`](crate::Sandbox::new) uses.
///
/// ```
/// use msb::{Config, IsolationLevel, NetworkPolicy, TrustLevel};
/// use std::time::Duration;
///
/// let config = Config::builder()
///     .isolation(IsolationLevel::Os)
///     .trust_level(TrustLevel::Untrusted)
///     .network(NetworkPolicy::DenyAll)
///     .timeout(Duration::from_secs(10))
///     .memory_limit_mb(256)
///     .max_processes(64)
///     .env_var("GREETING", "hello")
///     .build();
/// assert_eq!(config.memory_limit_mb, Some(256));
/// assert_eq!(config.timeout, Some(Duration::from_secs(10)));
/// ```
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Which backend runs the sandbox.
    pub isolation: IsolationLevel,
    /// How far the code is trusted (see [`TrustLevel`]).
    pub trust_level: TrustLevel,
    /// Network policy (only `DenyAll` is available).
    pub network: NetworkPolicy,
    /// Time limit of each command (`execute`, `exec`, `execute_code`,
    /// `stream_execute`, REPL runs); on expiry the command is killed and
    /// `timed_out` set. Default 30 s; `None`: no limit.
    pub timeout: Option<Duration>,
    /// Wall-time limit of the whole sandbox; `None` (default): none.
    pub sandbox_timeout: Option<Duration>,
    /// Memory limit in MiB; `None`: libmsb's default (512 MiB).
    pub memory_limit_mb: Option<u64>,
    /// CPUs (fractions allowed); `None`: libmsb's default (1).
    pub cpu_limit: Option<f64>,
    /// Maximum number of processes; `None`: libmsb's default (512).
    pub max_processes: Option<u32>,
    /// Size of the writable area (/tmp, /workspace, /root) in MiB; `None`:
    /// libmsb's default (512 MiB).
    pub disk_limit_mb: Option<u64>,
    /// Environment variables of every command, in order.
    pub env_vars: Vec<(String, String)>,
    /// Host paths visible read-only at the same path inside the sandbox.
    pub fs_readonly: Vec<PathBuf>,
    /// Host paths visible read-write at the same path inside the sandbox.
    pub fs_readwrite: Vec<PathBuf>,
    /// Explicit mounts: (host path, sandbox path, read-only).
    pub volumes: Vec<(PathBuf, String, bool)>,
    /// Working directory of commands; `None`: /workspace.
    pub workdir: Option<String>,
    /// Sandbox name; `None`: generated.
    pub name: Option<String>,
    /// Hostname inside: at most 63 letters, digits and '-' in
    /// dot-separated labels (RFC 1123), such as "web-1"; `None`: the
    /// sandbox's name, cut to 63 characters.
    pub hostname: Option<String>,
    /// A host directory holding a root filesystem; `None`: the host's
    /// system directories, read-only.
    pub rootfs: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            isolation: IsolationLevel::Auto,
            trust_level: TrustLevel::SemiTrusted,
            network: NetworkPolicy::DenyAll,
            timeout: Some(Duration::from_secs(30)),
            sandbox_timeout: None,
            memory_limit_mb: None,
            cpu_limit: None,
            max_processes: None,
            disk_limit_mb: None,
            env_vars: Vec::new(),
            fs_readonly: Vec::new(),
            fs_readwrite: Vec::new(),
            volumes: Vec::new(),
            workdir: None,
            name: None,
            hostname: None,
            rootfs: None,
        }
    }
}

impl Config {
    /// A builder starting from the defaults.
    pub fn builder() -> ConfigBuilder {
        ConfigBuilder {
            config: Config::default(),
        }
    }
}

/// Fluent builder for [`Config`].
#[derive(Debug, Clone)]
pub struct ConfigBuilder {
    config: Config,
}

impl Default for ConfigBuilder {
    fn default() -> Self {
        Config::builder()
    }
}

impl ConfigBuilder {
    /// Sets the isolation level.
    pub fn isolation(mut self, level: IsolationLevel) -> Self {
        self.config.isolation = level;
        self
    }

    /// Sets the trust level.
    pub fn trust_level(mut self, level: TrustLevel) -> Self {
        self.config.trust_level = level;
        self
    }

    /// Sets the network policy.
    pub fn network(mut self, policy: NetworkPolicy) -> Self {
        self.config.network = policy;
        self
    }

    /// Allows HTTP(S) to these domains (sets `NetworkPolicy::AllowDomains`,
    /// which libmsb does not offer yet).
    pub fn allowed_http_domains<I, S>(mut self, domains: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.config.network =
            NetworkPolicy::AllowDomains(domains.into_iter().map(Into::into).collect());
        self
    }

    /// Sets the time limit of each command.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = Some(timeout);
        self
    }

    /// Removes the per-command time limit.
    pub fn no_timeout(mut self) -> Self {
        self.config.timeout = None;
        self
    }

    /// Sets the wall-time limit of the whole sandbox.
    pub fn sandbox_timeout(mut self, timeout: Duration) -> Self {
        self.config.sandbox_timeout = Some(timeout);
        self
    }

    /// Sets the memory limit in MiB.
    pub fn memory_limit_mb(mut self, mb: u64) -> Self {
        self.config.memory_limit_mb = Some(mb);
        self
    }

    /// Sets the number of CPUs (fractions allowed).
    pub fn cpu_limit(mut self, cpus: f64) -> Self {
        self.config.cpu_limit = Some(cpus);
        self
    }

    /// Sets the maximum number of processes.
    pub fn max_processes(mut self, n: u32) -> Self {
        self.config.max_processes = Some(n);
        self
    }

    /// Sets the size of the writable area in MiB.
    pub fn disk_limit_mb(mut self, mb: u64) -> Self {
        self.config.disk_limit_mb = Some(mb);
        self
    }

    /// Adds an environment variable for every command.
    pub fn env_var(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.env_vars.push((key.into(), value.into()));
        self
    }

    /// Makes host paths visible read-only at the same paths in the sandbox.
    pub fn fs_readonly<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.config
            .fs_readonly
            .extend(paths.into_iter().map(Into::into));
        self
    }

    /// Makes host paths visible read-write at the same paths in the sandbox.
    pub fn fs_readwrite<I, P>(mut self, paths: I) -> Self
    where
        I: IntoIterator<Item = P>,
        P: Into<PathBuf>,
    {
        self.config
            .fs_readwrite
            .extend(paths.into_iter().map(Into::into));
        self
    }

    /// Mounts a host path at `sandbox_path` (absolute).
    pub fn volume(
        mut self,
        host_path: impl Into<PathBuf>,
        sandbox_path: impl Into<String>,
        read_only: bool,
    ) -> Self {
        self.config
            .volumes
            .push((host_path.into(), sandbox_path.into(), read_only));
        self
    }

    /// Sets the working directory of commands.
    pub fn workdir(mut self, dir: impl Into<String>) -> Self {
        self.config.workdir = Some(dir.into());
        self
    }

    /// Names the sandbox.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.config.name = Some(name.into());
        self
    }

    /// Sets the hostname inside (RFC 1123, at most 63 characters, such as
    /// "web-1"); libmsb refuses a bad one with `ErrorCode::InvalidConfig`.
    pub fn hostname(mut self, hostname: impl Into<String>) -> Self {
        self.config.hostname = Some(hostname.into());
        self
    }

    /// Uses a host directory as the root filesystem.
    pub fn rootfs(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.rootfs = Some(dir.into());
        self
    }

    /// Finishes the configuration.
    pub fn build(self) -> Config {
        self.config
    }
}
