//! Whether a build spreads its compiles with icecream: `--distribute` over the config
//! file's `[distribute]` (see `kiln_rules::distribute`).

use std::sync::Arc;

use kiln_rules::distribute::Distributor;
use kiln_rules::sources::DistributeConfig;

use crate::cli::DistributeEngine;

/// The build's distributor, if `flag` or the config turn distribution on; it grows
/// `jobserver` by the remote slots at the first compile.
pub fn choose(
    flag: Option<DistributeEngine>,
    config: &DistributeConfig,
    offline: bool,
    jobserver: &Arc<jobserver::Client>,
) -> Option<Arc<Distributor>> {
    let on = match flag {
        Some(engine) => engine == DistributeEngine::Icecc,
        None => config.enabled,
    };
    if !on {
        return None;
    }
    if offline {
        eprintln!("kiln: --offline: compiles are not distributed");
        return None;
    }
    Some(Arc::new(Distributor::new(
        config.settings.clone(),
        jobserver.clone(),
    )))
}
