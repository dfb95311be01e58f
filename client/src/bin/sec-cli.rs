//! `sec-cli`: the whole client. Users type `sec`, whose front hands every command it does not
//! finish itself to this binary beside it (src/front.rs).

fn main() -> std::process::ExitCode {
    sec_client::run()
}
