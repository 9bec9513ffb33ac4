//! The `tokenrisk` binary: parse the command line, run, print errors once with their whole
//! context chain, and map outcomes to exit codes (0 ok, 1 error, 2 usage).

fn main() {
    let code = match tokenrisk::cli::main() {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            1
        }
    };
    std::process::exit(code);
}
