//! What this CPU can run, asked in one place. Every SIMD kernel of wikirag (the embedding
//! pass and int8 products of `wikirag-models`, the graph distances of `wikirag-vectors`, the
//! q8/q4 dot products of `wikirag-llm`) chooses its code from a [`Simd`] token, and calls its
//! `#[target_feature]` functions only while holding one: a token exists only where detection
//! found its instructions, so holding it is the proof the `unsafe` call needs.

use std::sync::OnceLock;

/// The instruction sets the kernels are written for, weakest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Isa {
    /// AVX2 and FMA (x86-64-v3).
    Avx2,
    /// AVX-512 F, VL, BW and DQ, with AVX2 and FMA.
    Avx512,
    /// [`Isa::Avx512`] with VNNI (`vpdpbusd`).
    Avx512Vnni,
}

impl Isa {
    /// Its name in logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Avx512Vnni => "avx512-vnni",
        }
    }
}

/// Proof that this CPU runs an instruction set: made only by [`Simd::best`] and [`Simd::get`]
/// after detection (the field is private), so code holding one may enter kernels compiled for
/// its [`Isa`] and every weaker one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Simd(Isa);

impl Simd {
    /// The strongest instruction set this CPU runs, detected once; `None` on other CPUs and
    /// architectures (the kernels' scalar code).
    pub fn best() -> Option<Simd> {
        static BEST: OnceLock<Option<Isa>> = OnceLock::new();
        BEST.get_or_init(detect).map(Simd)
    }

    /// `isa` if this CPU runs it.
    pub fn get(isa: Isa) -> Option<Simd> {
        Simd::best().filter(|best| best.0 >= isa).map(|_| Simd(isa))
    }

    /// Every instruction set this CPU runs, strongest first (tests run each kernel).
    pub fn all() -> Vec<Simd> {
        [Isa::Avx512Vnni, Isa::Avx512, Isa::Avx2]
            .into_iter()
            .filter_map(Simd::get)
            .collect()
    }

    /// Whether the CPU itself runs `isa`, whatever [`CAP_ENV`] says (the kernels follow the
    /// cap; a binary compiled for `isa` needs the CPU).
    pub fn cpu_runs(isa: Isa) -> bool {
        static FOUND: OnceLock<Option<Isa>> = OnceLock::new();
        FOUND
            .get_or_init(detect_cpu)
            .is_some_and(|found| found >= isa)
    }

    /// The instruction set this token proves.
    pub fn isa(self) -> Isa {
        self.0
    }

    /// Whether the CPU runs `isa` too (it does for every weaker one).
    pub fn has(self, isa: Isa) -> bool {
        self.0 >= isa
    }
}

/// The environment variable that caps detection (`avx512-vnni`, `avx512`, `avx2` or `none`):
/// a machine runs the kernels a weaker one would, to test and measure every path on one box.
pub const CAP_ENV: &str = "WIKIRAG_SIMD";

fn detect() -> Option<Isa> {
    let found = detect_cpu();
    match std::env::var(CAP_ENV).ok().as_deref().map(str::trim) {
        None | Some("") => found,
        Some(cap) => {
            let cap = match cap {
                "none" | "scalar" => None,
                "avx2" => Some(Isa::Avx2),
                "avx512" => Some(Isa::Avx512),
                "avx512-vnni" => Some(Isa::Avx512Vnni),
                other => {
                    tracing::warn!(
                        "{CAP_ENV}={other:?} is not one of avx512-vnni, avx512, avx2, none; ignored"
                    );
                    return found;
                }
            };
            // A cap never grants what the CPU lacks.
            found.min(cap)
        }
    }
}

fn detect_cpu() -> Option<Isa> {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        if !(has!("avx2") && has!("fma")) {
            return None;
        }
        if !(has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq")) {
            return Some(Isa::Avx2);
        }
        if !has!("avx512vnni") {
            return Some(Isa::Avx512);
        }
        Some(Isa::Avx512Vnni)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_proves_its_set_and_every_weaker_one() {
        let all = Simd::all();
        if let Some(best) = Simd::best() {
            assert_eq!(all[0], best);
            assert!(all.iter().all(|s| best.has(s.isa())));
            assert_eq!(Simd::get(Isa::Avx2).map(Simd::isa), Some(Isa::Avx2));
        } else {
            assert!(all.is_empty());
            assert_eq!(Simd::get(Isa::Avx2), None);
        }
    }
}
