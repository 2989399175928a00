// mimalloc: polars allocates and frees many short-lived buffers across
// threads; glibc malloc fragments under that load (a 100M-event month grew
// to several times its live data) and is slower.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(reckon::cli::main());
}
