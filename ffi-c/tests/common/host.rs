//! possdk-host in-process (only for the tests that talk to a host).

use std::path::Path;

/// A possdk-host in this process, on an ephemeral loopback port, with its own database. Fixed keys:
/// the vectors' RSA key instead of generating one (slow in debug builds); the protocol is unchanged.
pub fn start_host(dir: &Path) -> possdk_host::Host {
    let mut config = possdk_host::HostConfig::new("127.0.0.1:0", dir.join("host.db"));
    config.fixed_keys = true;
    possdk_host::Host::start(config).expect("possdk-host starts")
}
