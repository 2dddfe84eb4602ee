//! The remote cache a build uses: `--remote-cache` / `KILN_REMOTE_CACHE` over the config
//! file's `[remote]`, opened with `kiln-remote` and handed to the engine.

use std::time::Duration;

use kiln_remote::auth::{Credentials, TokenSource};
use kiln_remote::{DEFAULT_TIMEOUT, RemoteOptions};
use kiln_rules::sources::RemoteConfig;

use crate::cli::RemoteArgs;
use crate::error::CliError;

/// The remote cache a build is to use, and how.
#[derive(Debug, Clone)]
pub struct RemoteChoice {
    /// How to reach it.
    pub options: RemoteOptions,
    /// Upload results.
    pub upload: bool,
    /// Fail when it is unavailable.
    pub required: bool,
}

/// The remote cache `args` and the config `config` select, if any.
pub fn choose(
    args: &RemoteArgs,
    config: &RemoteConfig,
    offline: bool,
) -> Result<Option<RemoteChoice>, CliError> {
    if args.no_remote {
        return Ok(None);
    }
    let Some(url) = args.cache.clone().or_else(|| config.cache.clone()) else {
        if args.required {
            return Err(CliError::Usage(
                "--remote-required needs a remote cache: give --remote-cache URL, set \
                 KILN_REMOTE_CACHE, or `cache` in the config's [remote]"
                    .into(),
            ));
        }
        return Ok(None);
    };
    if offline {
        if args.required || config.required {
            return Err(CliError::Usage(
                "--offline and a required remote cache contradict each other".into(),
            ));
        }
        eprintln!("kiln: --offline: the remote cache is not used");
        return Ok(None);
    }
    let token = match (&config.token_file, &config.token_env) {
        (Some(f), _) => TokenSource::File(f.clone()),
        (None, Some(v)) => TokenSource::Env(v.clone()),
        (None, None) => TokenSource::None,
    };
    Ok(Some(RemoteChoice {
        options: RemoteOptions {
            url,
            timeout: config
                .timeout
                .map(Duration::from_secs)
                .unwrap_or(DEFAULT_TIMEOUT),
            instance: config.instance.clone().unwrap_or_default(),
            credentials: Credentials {
                token,
                netrc: config.netrc.clone(),
            },
        },
        upload: args.upload.unwrap_or(!config.read_only),
        required: args.required || config.required,
    }))
}

/// Opens the chosen cache (nothing is sent yet).
pub fn open(choice: &RemoteChoice) -> Result<Box<dyn kiln_engine::remote::RemoteCache>, CliError> {
    kiln_remote::open(&choice.options).map_err(|e| CliError::Usage(e.to_string()))
}
