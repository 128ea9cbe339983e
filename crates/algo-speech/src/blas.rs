//! OpenBLAS's thread pool, tuned for running beside ggml's.
//!
//! After each call OpenBLAS's worker threads spin for 2^28 cycles (about 0.1 s) before
//! they sleep. whisper.cpp hands only the encoder's large matrix products to OpenBLAS,
//! so between them those spinning workers take the cores from ggml's own threads:
//! measured with 2 threads on 2 cores, a transcription took 1.3x as long. OpenBLAS
//! reads its timeout from the environment when the library is loaded, before `main`
//! runs, so the only way to set it from inside the program is to start it again.

/// The variable, and the value used: 2^4 cycles, OpenBLAS's minimum.
pub const THREAD_TIMEOUT: (&str, &str) = ("OPENBLAS_THREAD_TIMEOUT", "4");

/// Re-executes this program with [`THREAD_TIMEOUT`] set, unless the environment sets
/// the variable already (any value: the user's choice wins). Call it first thing in
/// `main`, before threads or files are opened. Returns (without re-executing) when
/// the build does not use OpenBLAS or the program cannot be re-executed; the cost
/// then is speed only.
pub fn reexec_with_short_spin() {
    // OpenBLAS is linked on x86_64 only (Cargo.toml).
    #[cfg(all(unix, target_arch = "x86_64"))]
    {
        use std::os::unix::process::CommandExt;
        let (name, value) = THREAD_TIMEOUT;
        if std::env::var_os(name).is_some() {
            return;
        }
        let Ok(program) = std::env::current_exe() else {
            return;
        };
        // `exec` returns only if it failed.
        let error = std::process::Command::new(&program)
            .args(std::env::args_os().skip(1))
            .env(name, value)
            .exec();
        eprintln!(
            "note: could not restart {} with {name}={value} ({error}); speech-to-text may run slower",
            program.display()
        );
    }
}
