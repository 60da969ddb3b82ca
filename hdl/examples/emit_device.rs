//! Prints the device top's Verilog: `cargo run -p lutgen-hdl --example emit_device [core]`.
fn main() {
    let device = lutgen_hdl::device::DeviceConfig::engine(
        lutgen_core::EngineConfig {
            input_dim: 8,
            codebooks: 4,
            centroids: 4,
            outputs: 4,
            ..Default::default()
        },
        12_000_000,
        3_000_000,
    );
    let core = std::env::args().nth(1).as_deref() == Some("core");
    let text = if core {
        lutgen_hdl::device::core_verilog(&device)
    } else {
        lutgen_hdl::device::device_verilog(&device)
    };
    print!("{}", text.unwrap());
}
