//! The `tokenrisk` binary: parse the command line, run, print errors once with their whole
//! context chain, and map outcomes to exit codes (0 ok, 1 error, 2 usage, 130 interrupted;
//! `nightly` adds 3 and 4).

fn main() {
    let runtime_dir = quiet_vulkan_runtime_dir();
    let code = match tokenrisk::cli::main() {
        Ok(code) => code,
        Err(err) if tokenrisk::cli::is_interrupted(&err) => {
            eprintln!("interrupted: {}", tokenrisk::cli::error_text(&err));
            eprintln!("  no outputs were written; earlier outputs are as they were");
            tokenrisk::cli::interrupt::EXIT_INTERRUPTED
        }
        Err(err) => {
            eprintln!("error: {}", tokenrisk::cli::error_text(&err));
            1
        }
    };
    if let Some(dir) = runtime_dir {
        let _ = std::fs::remove_dir_all(dir);
    }
    std::process::exit(code);
}

/// Vulkan drivers (Mesa's window-system layer) print "error: XDG_RUNTIME_DIR is invalid or
/// not set" whenever an instance is created without it, which every run does when it looks
/// for a GPU: alarming, and not an error of ours. Give headless runs a private runtime
/// folder (removed on exit). Done first thing, while the process is still single-threaded.
fn quiet_vulkan_runtime_dir() -> Option<std::path::PathBuf> {
    if std::env::var_os("XDG_RUNTIME_DIR").is_some() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("tokenrisk-runtime-{}", std::process::id()));
    if std::fs::create_dir_all(&dir).is_ok() {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        }
        std::env::set_var("XDG_RUNTIME_DIR", &dir);
        return Some(dir);
    }
    None
}
