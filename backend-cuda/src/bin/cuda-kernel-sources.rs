//! Writes the CUDA backend's generated kernel sources into a directory, with the NVRTC
//! options the backend compiles them with (`options.txt`, one per line) and the
//! architectures to check (`archs.txt`), for
//! `backend-cuda/kernel-check.sh`.
//!
//!     cargo run -p lamina-backend-cuda --bin cuda-kernel-sources -- DIR

use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args().nth(1) else {
        eprintln!("usage: cuda-kernel-sources DIR");
        return ExitCode::from(2);
    };
    let dir = std::path::Path::new(&dir);
    let write = || -> std::io::Result<usize> {
        std::fs::create_dir_all(dir)?;
        let sources = lamina_backend_cuda::source::all_sources();
        for (name, text) in &sources {
            std::fs::write(dir.join(name), text)?;
        }
        let options = lamina_backend_cuda::source::NVRTC_OPTIONS.join("\n");
        std::fs::write(dir.join("options.txt"), options + "\n")?;
        let archs = lamina_backend_cuda::source::CHECK_ARCHS.join("\n");
        std::fs::write(dir.join("archs.txt"), archs + "\n")?;
        Ok(sources.len())
    };
    match write() {
        Ok(n) => {
            println!(
                "wrote {n} source(s), options.txt and archs.txt to {}",
                dir.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "cuda-kernel-sources: cannot write to {}: {e}",
                dir.display()
            );
            ExitCode::FAILURE
        }
    }
}
