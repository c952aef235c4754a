fn main() {
    eprintln!("possdk-demo: not built yet");
    std::process::exit(1)
}
