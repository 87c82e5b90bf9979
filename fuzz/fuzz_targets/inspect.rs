//! Arbitrary bytes as a backup for `inspect`, with the example config's
//! certs known as pinned recipients: once without a secret key (the
//! envelope reader, armor, PKESK parsing, the policy check) and once with
//! the daily key (`inspect --key`: also `decrypt::peek`, under the same
//! panic guard as decrypt). Ok or a bad-input / no-key error, never a panic.
#![no_main]

mod common;

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sealpipe::inspect::{inspect, InspectPlan, KnownCert, KnownCerts, Requirement};
use sealpipe::keys::parse_certs;

fn known() -> &'static KnownCerts {
    static KNOWN: OnceLock<KnownCerts> = OnceLock::new();
    KNOWN.get_or_init(|| {
        let mut known = KnownCerts {
            certs: Vec::new(),
            have_policy: true,
        };
        for (name, bytes, required) in [
            (
                "daily",
                &include_bytes!("../../keys-example/daily.cert.asc")[..],
                false,
            ),
            (
                "escrow",
                &include_bytes!("../../keys-example/escrow.cert.asc")[..],
                true,
            ),
        ] {
            for cert in parse_certs(bytes).expect("example certs parse") {
                known.certs.push(KnownCert {
                    name: name.into(),
                    cert,
                    pinned: true,
                    required,
                });
            }
        }
        known
    })
}

/// The plan `inspect` runs with: the example certs, `--require exact`
/// (the stricter check walks more code), the daily key when `with_key`.
fn plan(with_key: bool) -> &'static InspectPlan {
    static PLANS: OnceLock<[InspectPlan; 2]> = OnceLock::new();
    let plans = PLANS.get_or_init(|| {
        let now = std::time::SystemTime::now();
        [None, Some(common::keyring().clone())].map(|keyring| InspectPlan {
            known: known().clone(),
            keyring,
            require: Requirement::Exact,
            now,
        })
    });
    &plans[usize::from(with_key)]
}

fuzz_target!(|data: &[u8]| {
    common::guard_message_is_known();
    let without_key = inspect("fuzz", data, None, plan(false));
    common::judge("inspect", &without_key);
    let with_key = inspect("fuzz", data, None, plan(true));
    common::judge("inspect --key", &with_key);
});
