fn main() {
    std::process::exit(reckon::cli::main());
}
