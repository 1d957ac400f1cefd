//! Default bounds: the one home of what `thpcheck check`, the docs (docs/bounds.md,
//! docs/locking-rules.md), `thpcheck defects`, `thpcheck bench` and the tests run with when
//! nobody says otherwise. (`thpcheck audit` keeps its own budget: `audit::budget`.)

use crate::engine::{EngineSpec, LOOM_MAX_BRANCHES};
use crate::scenarios::Scenario;

/// shuttle PCT: seed, depth (bug depth it targets) and iterations.
pub const PCT_SEED: u64 = 0;
pub const PCT_DEPTH: usize = 3;
pub const PCT_ITERATIONS: usize = 2000;

/// The default shuttle PCT run, as docs/bounds.md states it.
pub const PCT: EngineSpec = EngineSpec::ShuttlePct {
    seed: PCT_SEED,
    depth: PCT_DEPTH,
    iterations: PCT_ITERATIONS,
};

/// shuttle random scheduling: seed and iterations.
pub const RANDOM_SEED: u64 = PCT_SEED;
pub const RANDOM_ITERATIONS: usize = 1000;

/// Iterations of the stress engine (std threads, real parallelism).
pub const STRESS_ITERATIONS: usize = 1000;

/// A scenario's default loom run: its own preemption bound (`Scenario::loom_bound`), the
/// engine's branch limit.
pub fn loom(s: &Scenario) -> EngineSpec {
    EngineSpec::Loom {
        preemption_bound: s.loom_bound,
        max_branches: LOOM_MAX_BRANCHES,
    }
}
