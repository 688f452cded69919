//! Generates the market feed's sinks from `services.toml` (the build-script
//! front end; the strategy uses the derive instead).

fn main() {
    if let Err(e) = sinkgen::Builder::new()
        .config("services.toml")
        .service("market_feed")
        .compile()
    {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
