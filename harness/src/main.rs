fn main() {
    // The CLI is wired in `harness/src/main.rs` once the library modules exist.
}
